#!/usr/bin/env python3
"""Writes bench/networks.hpp: each network's convolutions at batch 1, from the published
architectures, by walking the layers and tracking the feature map's size.

    python3 bench/networks.py > bench/networks.hpp

Classifier (fully connected) layers and transposed convolutions are left out; everything else
that is a convolution in the network's forward pass is in, repeats counted.
"""
import sys


def same_pads(size, kernel, stride, dilation=1):
    """TensorFlow's SAME padding: the total is split with the odd pixel at the end."""
    extent = dilation * (kernel - 1) + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


class Net:
    def __init__(self, name, citation):
        self.name, self.citation = name, citation
        self.counts = {}  # problem -> occurrences, in first-seen order

    def conv(self, c, h, w, oc, k, s=1, pad=0, groups=1, dilation=1, same=False):
        """Records one convolution of a c x h x w map; returns the output (oc, oh, ow)."""
        kh, kw = k if isinstance(k, tuple) else (k, k)
        if same:
            pt, pb = same_pads(h, kh, s, dilation)
            pl, pr = same_pads(w, kw, s, dilation)
        else:
            ph, pw = pad if isinstance(pad, tuple) else (pad, pad)
            pt, pb, pl, pr = ph, ph, pw, pw
        oh = (h + pt + pb - dilation * (kh - 1) - 1) // s + 1
        ow = (w + pl + pr - dilation * (kw - 1) - 1) // s + 1
        assert oh >= 1 and ow >= 1, (self.name, c, h, w, oc, k, s)
        text = f"mb1_ic{c}ih{h}iw{w}_oc{oc}_kh{kh}kw{kw}"
        if s != 1:
            text += f"_sh{s}sw{s}"
        if (pt, pl) == (pb, pr):
            if pt or pl:
                text += f"_ph{pt}pw{pl}"
        else:
            text += f"_pt{pt}pb{pb}pl{pl}pr{pr}"
        if dilation != 1:
            text += f"_dh{dilation}dw{dilation}"
        if groups != 1:
            text += f"_g{groups}"
        self.counts[text] = self.counts.get(text, 0) + 1
        return oc, oh, ow


def pool(h, k, s, pad=0, ceil=False):
    span = h + 2 * pad - k
    return (-(-span // s) if ceil else span // s) + 1


def alexnet():
    n = Net("alexnet", "Krizhevsky, Sutskever, Hinton, NeurIPS 2012 (Caffe's 227x227 input, two groups where the paper split across GPUs)")
    c, h, _ = n.conv(3, 227, 227, 96, 11, s=4)
    h = pool(h, 3, 2)
    c, h, _ = n.conv(c, h, h, 256, 5, pad=2, groups=2)
    h = pool(h, 3, 2)
    c, h, _ = n.conv(c, h, h, 384, 3, pad=1)
    c, h, _ = n.conv(c, h, h, 384, 3, pad=1, groups=2)
    c, h, _ = n.conv(c, h, h, 256, 3, pad=1, groups=2)
    assert (c, pool(h, 3, 2)) == (256, 6)
    return n


def vgg_base(n, size, stages, pool_ceil_after=()):
    c, h = 3, size
    for i, (width, depth) in enumerate(stages):
        for _ in range(depth):
            c, h, _ = n.conv(c, h, h, width, 3, pad=1)
        if i < len(stages) - 1:
            h = pool(h, 2, 2, ceil=i in pool_ceil_after)
    return c, h


VGG16 = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]


def vgg16():
    n = Net("vgg16", "Simonyan, Zisserman, ICLR 2015, configuration D at 224x224")
    c, h = vgg_base(n, 224, VGG16)
    assert (c, h) == (512, 14)
    return n


def ssd300():
    n = Net("ssd300", "Liu et al., ECCV 2016: VGG-16 base with dilated fc6/fc7, extras and the 21-class VOC heads")
    c, h = vgg_base(n, 300, VGG16, pool_ceil_after={2})
    assert h == 19
    sources = []
    # conv4_3 feeds a head at 38x38: recorded here by size.
    sources.append((512, 38, 4))
    c, h, _ = n.conv(c, h, h, 1024, 3, pad=6, dilation=6)  # fc6 after pool5 (3x3, stride 1)
    c, h, _ = n.conv(c, h, h, 1024, 1)  # fc7
    sources.append((c, h, 6))
    for mid, out, stride, pad, boxes in [(256, 512, 2, 1, 6), (128, 256, 2, 1, 6), (128, 256, 1, 0, 4), (128, 256, 1, 0, 4)]:
        c, h, _ = n.conv(c, h, h, mid, 1)
        c, h, _ = n.conv(c, h, h, out, 3, s=stride, pad=pad)
        sources.append((c, h, boxes))
    assert [s[1] for s in sources] == [38, 19, 10, 5, 3, 1]
    for c, h, boxes in sources:
        n.conv(c, h, h, boxes * 4, 3, pad=1)
        n.conv(c, h, h, boxes * 21, 3, pad=1)
    return n


def yolov2():
    n = Net("yolov2", "Redmon, Farhadi, CVPR 2017 (YOLO9000): Darknet-19 at 416x416, yolov2-voc.cfg with the passthrough layer")
    c, h = 3, 416
    for block in [[32], [64], [128, 64, 128], [256, 128, 256], [512, 256, 512, 256, 512], [1024, 512, 1024, 512, 1024]]:
        for i, width in enumerate(block):
            c, h, _ = n.conv(c, h, h, width, 1 if i % 2 else 3, pad=0 if i % 2 else 1)
        if width == 512:
            passthrough = (c, h)
        if width != 1024:
            h = pool(h, 2, 2)
    c, h, _ = n.conv(c, h, h, 1024, 3, pad=1)
    c, h, _ = n.conv(c, h, h, 1024, 3, pad=1)
    pc, ph, _ = n.conv(*passthrough, passthrough[1], 64, 1)
    c = c + pc * 4  # reorg: 26x26x64 -> 13x13x256
    assert ph == 2 * h == 26
    c, h, _ = n.conv(c, h, h, 1024, 3, pad=1)
    c, h, _ = n.conv(c, h, h, 125, 1)
    assert (c, h) == (125, 13)
    return n


def unet():
    n = Net("unet", "Ronneberger, Fischer, Brox, MICCAI 2015: 572x572x1 input, valid 3x3 (the 2x2 up-convolutions are transposed, left out)")
    c, h = 1, 572
    skips = []
    for width in [64, 128, 256, 512, 1024]:
        c, h, _ = n.conv(c, h, h, width, 3)
        c, h, _ = n.conv(c, h, h, width, 3)
        if width != 1024:
            skips.append(c)
            h = pool(h, 2, 2)
    for width in [512, 256, 128, 64]:
        c, h = skips.pop() + width, 2 * h  # up-convolution halves the channels, concatenated with the cropped skip
        c, h, _ = n.conv(c, h, h, width, 3)
        c, h, _ = n.conv(c, h, h, width, 3)
    c, h, _ = n.conv(c, h, h, 2, 1)
    assert (c, h) == (2, 388)
    return n


def mobilenet_v1():
    n = Net("mobilenet_v1", "Howard et al., arXiv 1704.04861, 1.0 at 224x224 as TensorFlow exports it (SAME padding)")
    c, h, _ = n.conv(3, 224, 224, 32, 3, s=2, same=True)
    for out, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]:
        c, h, _ = n.conv(c, h, h, c, 3, s=stride, groups=c, same=True)
        c, h, _ = n.conv(c, h, h, out, 1)
    assert (c, h) == (1024, 7)
    return n


def mobilenet_v2():
    n = Net("mobilenet_v2", "Sandler et al., CVPR 2018, 1.0 at 224x224 (PyTorch's symmetric padding)")
    c, h, _ = n.conv(3, 224, 224, 32, 3, s=2, pad=1)
    for t, out, repeats, stride in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(repeats):
            e = c * t
            if t != 1:
                n.conv(c, h, h, e, 1)
            _, h, _ = n.conv(e, h, h, e, 3, s=stride if i == 0 else 1, pad=1, groups=e)
            c, h, _ = n.conv(e, h, h, out, 1)
    c, h, _ = n.conv(c, h, h, 1280, 1)
    assert (c, h) == (1280, 7)
    return n


def resnet(name, citation, blocks, groups=1, width_per_group=64):
    n = Net(name, citation)
    c, h, _ = n.conv(3, 224, 224, 64, 7, s=2, pad=3)
    h = pool(h, 3, 2, pad=1)
    for stage, repeats in enumerate(blocks):
        planes = 64 << stage
        width = planes * width_per_group // 64 * groups
        for i in range(repeats):
            stride = 2 if stage > 0 and i == 0 else 1  # v1.5: the stride is on the 3x3
            if i == 0:
                n.conv(c, h, h, planes * 4, 1, s=stride)
            _, _, _ = n.conv(c, h, h, width, 1)
            _, oh, _ = n.conv(width, h, h, width, 3, s=stride, pad=1, groups=groups)
            c, h, _ = n.conv(width, oh, oh, planes * 4, 1)
    assert (c, h) == (2048, 7)
    return n


def densenet121():
    n = Net("densenet121", "Huang et al., CVPR 2017: DenseNet-121 (growth 32, bottleneck 128) at 224x224")
    c, h, _ = n.conv(3, 224, 224, 64, 7, s=2, pad=3)
    h = pool(h, 3, 2, pad=1)
    for i, layers in enumerate([6, 12, 24, 16]):
        for _ in range(layers):
            n.conv(c, h, h, 128, 1)
            n.conv(128, h, h, 32, 3, pad=1)
            c += 32
        if i < 3:
            c, h, _ = n.conv(c, h, h, c // 2, 1)
            h = pool(h, 2, 2)
    assert (c, h) == (1024, 7)
    return n


def inception_v3():
    n = Net("inception_v3", "Szegedy et al., CVPR 2016: Inception v3 at 299x299 (the auxiliary classifier left out)")
    c, h, _ = n.conv(3, 299, 299, 32, 3, s=2)
    c, h, _ = n.conv(c, h, h, 32, 3)
    c, h, _ = n.conv(c, h, h, 64, 3, pad=1)
    h = pool(h, 3, 2)
    c, h, _ = n.conv(c, h, h, 80, 1)
    c, h, _ = n.conv(c, h, h, 192, 3)
    h = pool(h, 3, 2)
    assert (c, h) == (192, 35)
    for pool_features in [32, 64, 64]:  # Mixed_5b-d
        n.conv(c, h, h, 64, 1)
        n.conv(c, h, h, 48, 1)
        n.conv(48, h, h, 64, 5, pad=2)
        n.conv(c, h, h, 64, 1)
        n.conv(64, h, h, 96, 3, pad=1)
        n.conv(96, h, h, 96, 3, pad=1)
        n.conv(c, h, h, pool_features, 1)
        c = 64 + 64 + 96 + pool_features
    # Mixed_6a
    _, oh, _ = n.conv(c, h, h, 384, 3, s=2)
    n.conv(c, h, h, 64, 1)
    n.conv(64, h, h, 96, 3, pad=1)
    n.conv(96, h, h, 96, 3, s=2)
    c, h = 384 + 96 + c, oh
    assert (c, h) == (768, 17)
    for c7 in [128, 160, 160, 192]:  # Mixed_6b-e
        n.conv(c, h, h, 192, 1)
        n.conv(c, h, h, c7, 1)
        n.conv(c7, h, h, c7, (1, 7), pad=(0, 3))
        n.conv(c7, h, h, 192, (7, 1), pad=(3, 0))
        n.conv(c, h, h, c7, 1)
        n.conv(c7, h, h, c7, (7, 1), pad=(3, 0))
        n.conv(c7, h, h, c7, (1, 7), pad=(0, 3))
        n.conv(c7, h, h, c7, (7, 1), pad=(3, 0))
        n.conv(c7, h, h, 192, (1, 7), pad=(0, 3))
        n.conv(c, h, h, 192, 1)
    # Mixed_7a
    n.conv(c, h, h, 192, 1)
    _, oh, _ = n.conv(192, h, h, 320, 3, s=2)
    n.conv(c, h, h, 192, 1)
    n.conv(192, h, h, 192, (1, 7), pad=(0, 3))
    n.conv(192, h, h, 192, (7, 1), pad=(3, 0))
    n.conv(192, h, h, 192, 3, s=2)
    c, h = 320 + 192 + c, oh
    assert (c, h) == (1280, 8)
    for _ in range(2):  # Mixed_7b-c
        n.conv(c, h, h, 320, 1)
        n.conv(c, h, h, 384, 1)
        n.conv(384, h, h, 384, (1, 3), pad=(0, 1))
        n.conv(384, h, h, 384, (3, 1), pad=(1, 0))
        n.conv(c, h, h, 448, 1)
        n.conv(448, h, h, 384, 3, pad=1)
        n.conv(384, h, h, 384, (1, 3), pad=(0, 1))
        n.conv(384, h, h, 384, (3, 1), pad=(1, 0))
        n.conv(c, h, h, 192, 1)
        c = 320 + 768 + 768 + 192
    assert c == 2048
    return n


def shufflenet_v2():
    n = Net("shufflenet_v2", "Ma et al., ECCV 2018: ShuffleNet v2 1.0x at 224x224")
    c, h, _ = n.conv(3, 224, 224, 24, 3, s=2, pad=1)
    h = pool(h, 3, 2, pad=1)
    for out, units in [(116, 4), (232, 8), (464, 4)]:
        half = out // 2
        _, oh, _ = n.conv(c, h, h, c, 3, s=2, pad=1, groups=c)  # the shortcut branch
        n.conv(c, oh, oh, half, 1)
        n.conv(c, h, h, half, 1)
        n.conv(half, h, h, half, 3, s=2, pad=1, groups=half)
        n.conv(half, oh, oh, half, 1)
        c, h = out, oh
        for _ in range(units - 1):
            n.conv(half, h, h, half, 1)
            n.conv(half, h, h, half, 3, pad=1, groups=half)
            n.conv(half, h, h, half, 1)
    c, h, _ = n.conv(c, h, h, 1024, 1)
    assert (c, h) == (1024, 7)
    return n


def efficientdet_d0():
    n = Net("efficientdet_d0", "Tan, Pang, Le, CVPR 2020: D0 at 512x512, EfficientNet-B0 backbone with SE, 3 BiFPN layers of 64, 90-class heads, TF SAME padding")
    c, h, _ = n.conv(3, 512, 512, 32, 3, s=2, same=True)
    levels = {}
    for expand, kernel, stride, out, repeats in [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                                                 (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]:
        for i in range(repeats):
            e = c * expand
            if expand != 1:
                n.conv(c, h, h, e, 1)
            _, h, _ = n.conv(e, h, h, e, kernel, s=stride if i == 0 else 1, groups=e, same=True)
            squeeze = max(1, c // 4)
            n.conv(e, 1, 1, squeeze, 1)  # squeeze-and-excitation on the pooled map
            n.conv(squeeze, 1, 1, e, 1)
            c, h, _ = n.conv(e, h, h, out, 1)
        levels[h] = c  # the last stage at each size is that level's feature
    p3, p4, p5 = 64, 32, 16
    assert (levels[p3], levels[p4], levels[p5]) == (40, 112, 320)
    width = 64
    n.conv(levels[p5], p5, p5, width, 1)  # P6's channel resample, then max pools make P6 and P7
    sizes = [64, 32, 16, 8, 4]  # P3..P7
    # BiFPN nodes as (level, input offsets), offsets 0-4 the inputs P3-P7, 5+ the nodes before.
    nodes = [(6, [3, 4]), (5, [2, 5]), (4, [1, 6]), (3, [0, 7]), (4, [1, 7, 8]), (5, [2, 6, 9]), (6, [3, 5, 10]), (7, [4, 11])]
    for layer in range(3):
        for level, offsets in nodes:
            s = sizes[level - 3]
            for o in offsets:
                if layer == 0 and o < 3:  # backbone inputs of other widths get a 1x1 resample per use
                    n.conv(levels[sizes[o]], sizes[o], sizes[o], width, 1)
            n.conv(width, s, s, width, 3, groups=width, same=True)  # the node's separable convolution
            n.conv(width, s, s, width, 1)
    for s in sizes:  # class and box nets: 3 separable convolutions each, then the predicting one
        for outputs in [9 * 90, 9 * 4]:
            for _ in range(3):
                n.conv(width, s, s, width, 3, groups=width, same=True)
                n.conv(width, s, s, width, 1)
            n.conv(width, s, s, width, 3, groups=width, same=True)
            n.conv(width, s, s, outputs, 1)
    return n


def networks():
    return [mobilenet_v1(), efficientdet_d0(), inception_v3(), unet(), ssd300(), densenet121(),
            resnet("resnext101_32x8d", "Xie et al., CVPR 2017: ResNeXt-101 32x8d at 224x224 (torchvision's, stride on the 3x3)",
                   [3, 4, 23, 3], groups=32, width_per_group=8),
            yolov2(), vgg16(), alexnet(),
            resnet("resnet50", "He et al., CVPR 2016: ResNet-50 at 224x224, v1.5 (stride on the 3x3, as torchvision and MLPerf)",
                   [3, 4, 6, 3]),
            mobilenet_v2(), shufflenet_v2()]


def main():
    out = sys.stdout
    out.write("""#pragma once
// Real networks' convolutions at batch 1, each distinct shape once with how often it occurs.
// Written by bench/networks.py from the papers' architectures (run it to regenerate); the
// classifiers' fully connected layers and transposed convolutions are left out.
#include <vector>

namespace convkit::bench {

struct NetworkLayer {
  const char* problem;
  int count;  // occurrences in one forward pass
};

struct Network {
  const char* name;
  std::vector<NetworkLayer> layers;
};

inline const std::vector<Network>& networks() {
  static const std::vector<Network> all = {
""")
    for n in networks():
        out.write(f"      // {n.citation}\n")
        out.write(f"      {{\"{n.name}\",\n       {{\n")
        for text, count in n.counts.items():
            out.write(f"           {{\"{text}\", {count}}},\n")
        out.write("       }},\n")
    out.write("""  };
  return all;
}

}  // namespace convkit::bench
""")


if __name__ == "__main__":
    main()
