#!/usr/bin/python3
"""Time convkit from Python.

  PYTHONPATH=build/python /usr/bin/python3 bench/python_bench.py [--threads N] [--repeats R]
      [--cxx-bench build/bench/convkit-bench] [--only overhead,layers,blocks]

overhead: convkit.Conv2d.forward on the seed notebook's layer with preallocated arrays, per call,
          against convkit-bench's median for the same problem, backend and threads (needs --cxx-bench).
layers:   ResNet-50's res2b and res3b 3x3 convolutions forward through convkit.torch.Conv2d
          (channels_last) against convkit-bench's figure and torch.nn.Conv2d.
blocks:   ResNet-50 bottleneck blocks (res2b, res3b) forward, and forward+backward, built from
          convkit.torch.Conv2d against the same blocks from torch.nn.Conv2d, channels_last.
Both libraries run on --threads threads (torch.set_num_threads and convkit's threads=).
The overhead figures are medians over --repeats rounds of many calls each (a call is too short to
time alone); the others use convkit-bench's statistic, the median single call, itself the median
of --repeats runs. Ratios compare figures of the same run.
"""
import argparse
import re
import statistics
import subprocess
import time

import numpy as np
import torch

import convkit
import convkit.torch as ckt

SEED_PROBLEM = "mb10_ic3ih4iw4_oc8_kh2kw2_sh2sw2_ph2pw2"
LAYERS = {"res2b_3x3": "mb1_ic64ih56iw56_oc64_kh3kw3_ph1pw1", "res3b_3x3": "mb1_ic128ih28iw28_oc128_kh3kw3_ph1pw1"}
# (name, input channels = output channels, bottleneck width, spatial size)
BLOCKS = [("res2b", 256, 64, 56), ("res3b", 512, 128, 28)]


def median_seconds(call, repeats, min_round_seconds=0.05):
    """Median over `repeats` rounds of the mean time per call, each round at least min_round_seconds."""
    call()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            call()
        if time.perf_counter() - start >= min_round_seconds:
            break
        calls *= 2
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        rounds.append((time.perf_counter() - start) / calls)
    return statistics.median(rounds)


def median_call_seconds(call, repeats, min_time=0.2):
    """convkit-bench's statistic: after a warm-up call, time calls one by one until min_time has
    passed (at least 5), take the median; then the median of that over `repeats` runs."""
    runs = []
    for _ in range(repeats):
        call()
        times = []
        while len(times) < 5 or sum(times) < min_time:
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        runs.append(statistics.median(times))
    return statistics.median(runs)


def cxx_median_seconds(cxx_bench, problem, backend, threads, repeats):
    """convkit-bench's forward median for one backend, the median over `repeats` runs of it."""
    runs = []
    for _ in range(repeats):
        text = subprocess.run([cxx_bench, "--conv", problem, "--dir", "fwd", "--threads", str(threads), "--backend",
                               backend, "--min-time", "0.2"], check=True, capture_output=True, text=True).stdout
        match = re.search(rf"^\s*{re.escape(backend)}\s+([0-9.]+)", text, re.MULTILINE)
        if not match:
            raise RuntimeError(f"no {backend} row in convkit-bench's output:\n{text}")
        runs.append(float(match.group(1)) * 1e-6)
    return statistics.median(runs)


def layer_for(problem, threads, backend="auto"):
    p = convkit.parse_problem(problem)
    layer = convkit.Conv2d(p.in_c, p.out_c, (p.kernel_h, p.kernel_w), stride=(p.stride_h, p.stride_w),
                           padding=(p.pad_top, p.pad_bottom, p.pad_left, p.pad_right),
                           dilation=(p.dilation_h, p.dilation_w), groups=p.groups, backend=backend, threads=threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((p.batch, p.in_h, p.in_w, p.in_c), dtype=np.float32)
    w = rng.standard_normal(layer.weight_shape, dtype=np.float32)
    b = rng.standard_normal(p.out_c, dtype=np.float32)
    y = np.empty((p.batch, p.out_h, p.out_w, p.out_c), np.float32)
    return p, layer, x, w, b, y


def overhead(args):
    print(f"# Python overhead per call: convkit.Conv2d.forward(x, w, b, out=y), {SEED_PROBLEM}")
    _, layer, x, w, b, y = layer_for(SEED_PROBLEM, args.threads)
    layer.forward(x, w, b, out=y)
    backend = layer.backend
    python = median_seconds(lambda: layer.forward(x, w, b, out=y), args.repeats)
    allocating = median_seconds(lambda: layer.forward(x, w, b), args.repeats)
    print(f"  python, preallocated y   {python * 1e6:9.2f} us   ({backend})")
    print(f"  python, y allocated      {allocating * 1e6:9.2f} us")
    if args.cxx_bench:
        cxx = cxx_median_seconds(args.cxx_bench, SEED_PROBLEM, backend, args.threads, args.repeats)
        print(f"  C++ convkit-bench        {cxx * 1e6:9.2f} us   ({backend})")
        print(f"  overhead                 {(python - cxx) * 1e6:9.2f} us preallocated, "
              f"{(allocating - cxx) * 1e6:.2f} us allocating")


def layers(args):
    print("# ResNet-50 3x3 layers, forward, batch 1")
    for name, problem in LAYERS.items():
        p, layer, x, w, b, y = layer_for(problem, args.threads)
        layer.forward(x, w, b, out=y)
        numpy_call = median_call_seconds(lambda: layer.forward(x, w, b, out=y), args.repeats)
        ours = ckt.Conv2d(p.in_c, p.out_c, p.kernel_h, padding=p.pad_top, threads=args.threads)
        theirs = torch.nn.Conv2d(p.in_c, p.out_c, p.kernel_h, padding=p.pad_top)
        theirs.load_state_dict(ours.state_dict())
        t = torch.randn(1, p.in_c, p.in_h, p.in_w).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            convkit_torch = median_call_seconds(lambda: ours(t), args.repeats)
            torch_own = median_call_seconds(lambda: theirs(t), args.repeats)
        line = (f"  {name:10s} convkit.Conv2d {numpy_call * 1e6:8.1f} us   convkit.torch {convkit_torch * 1e6:8.1f} us   "
                f"torch.nn {torch_own * 1e6:8.1f} us   torch/convkit.torch {torch_own / convkit_torch:5.2f}x")
        if args.cxx_bench:
            cxx = cxx_median_seconds(args.cxx_bench, problem, layer.backend, args.threads, args.repeats)
            line += f"   C++ {layer.backend} {cxx * 1e6:8.1f} us   convkit.torch/C++ {convkit_torch / cxx:5.3f}"
        print(line)


class Bottleneck(torch.nn.Module):
    """A ResNet-50 bottleneck without downsampling: 1x1 reduce, 3x3, 1x1 expand, identity shortcut."""

    def __init__(self, conv, channels, width):
        super().__init__()
        self.reduce = conv(channels, width, 1, bias=False)
        self.conv = conv(width, width, 3, padding=1, bias=False)
        self.expand = conv(width, channels, 1, bias=False)

    def forward(self, x):
        y = torch.relu(self.reduce(x))
        y = torch.relu(self.conv(y))
        return torch.relu(self.expand(y) + x)


def blocks(args):
    print("# ResNet-50 bottleneck blocks, batch 1, channels_last")
    for name, channels, width, size in BLOCKS:
        torch.manual_seed(0)
        ours = Bottleneck(lambda *a, **k: ckt.Conv2d(*a, threads=args.threads, **k), channels, width)
        theirs = Bottleneck(torch.nn.Conv2d, channels, width)
        theirs.load_state_dict(ours.state_dict())
        x = torch.randn(1, channels, size, size).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=1e-3, atol=1e-3)
            forward = [median_call_seconds(lambda: m(x), args.repeats) for m in (ours, theirs)]
        xg = x.clone().requires_grad_()
        training = [median_call_seconds(lambda: m(xg).sum().backward(), args.repeats) for m in (ours, theirs)]
        for what, (c, t) in (("forward", forward), ("forward+backward", training)):
            print(f"  {name:6s} {what:17s} convkit.torch {c * 1e3:8.3f} ms   torch.nn {t * 1e3:8.3f} ms   "
                  f"torch/convkit {t / c:5.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cxx-bench", help="path to convkit-bench, for the C++ figures")
    parser.add_argument("--only", default="overhead,layers,blocks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"convkit {convkit.__version__} ({convkit.simd_arch()}), torch {torch.__version__}, {args.threads} thread(s)")
    for part in args.only.split(","):
        {"overhead": overhead, "layers": layers, "blocks": blocks}[part](args)


if __name__ == "__main__":
    main()
