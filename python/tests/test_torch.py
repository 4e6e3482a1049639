"""convkit.torch against PyTorch's own conv2d and autograd evaluated in float64 (the oracle),
on many shapes, both memory formats, the functional and the nn.Module forms."""
import copy
import functools
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional
import convkit.torch as ckt  # noqa: E402  (after the skip: needs torch)

EPS = 2.0 ** -24

# (N, C, H, W, out_channels, kernel, stride, padding, dilation, groups, bias)
SHAPES = [
    (2, 3, 8, 8, 4, 3, 1, 1, 1, 1, True),
    (1, 16, 7, 9, 17, 1, 1, 0, 1, 1, False),
    (2, 5, 11, 10, 6, (3, 5), (2, 1), (1, 2), 1, 1, True),
    (1, 4, 12, 12, 8, 3, 1, 2, 2, 1, True),            # dilation
    (2, 8, 9, 9, 8, 3, 1, 1, 1, 8, True),              # depthwise
    (1, 12, 10, 10, 24, 3, 2, 1, 1, 4, True),          # groups
    (1, 6, 9, 9, 6, 3, 2, 1, 1, 6, False),             # depthwise, stride 2
    (1, 15, 6, 6, 33, 1, 3, 0, 1, 1, True),            # stride larger than the kernel
    (3, 7, 13, 6, 5, 5, 1, "same", 1, 1, True),
    (2, 3, 9, 9, 4, 3, 1, "valid", 2, 1, True),
    (1, 2, 3, 3, 3, 3, 1, 4, 1, 1, True),              # padding larger than the kernel
]


def shape_id(shape):
    return "_".join(str(v).replace(" ", "").replace("'", "") for v in shape)


def within_contract(actual, expected, magnitude, terms, what):
    """The contract's strict bound, 2(m+2)2^-24 M: math="strict" (the default) lets auto choose
    strict backends only."""
    bound = 2 * (terms + 2) * EPS * magnitude
    excess = ((actual.double() - expected).abs() - bound).max().item()
    assert excess <= 0, f"{what}: worst excess over the bound {excess}"


def float64_reference(x, weight, bias, g, stride, padding, dilation, groups):
    """Values and gradients in float64, plus each one's sum of |terms| for the error bound."""
    def run(x, weight, bias, g):
        x, weight = x.double().requires_grad_(), weight.double().requires_grad_()
        bias = None if bias is None else bias.double().requires_grad_()
        y = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
        y.backward(g.double())
        return y.detach(), x.grad, weight.grad, None if bias is None else bias.grad

    exact = run(x, weight, bias, g)
    magnitude = run(x.abs(), weight.abs(), None if bias is None else bias.abs(), g.abs())
    return exact, magnitude


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_conv2d_values_and_gradients(shape, channels_last):
    n, c, h, w, oc, kernel, stride, padding, dilation, groups, has_bias = shape
    kernel = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    generator = torch.Generator().manual_seed(SHAPES.index(shape))
    x = torch.rand((n, c, h, w), generator=generator) * 2 - 1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.rand((oc, c // groups, *kernel), generator=generator) * 2 - 1
    bias = torch.rand(oc, generator=generator) * 2 - 1 if has_bias else None
    x.requires_grad_(), weight.requires_grad_()
    if bias is not None:
        bias.requires_grad_()

    y = ckt.conv2d(x, weight, bias, stride, padding, dilation, groups)
    g = torch.rand(y.shape, generator=generator) * 2 - 1
    y.backward(g)
    (ref_y, ref_dx, ref_dw, ref_db), (abs_y, abs_dx, abs_dw, abs_db) = float64_reference(
        x.detach(), weight.detach(), None if bias is None else bias.detach(), g, stride, padding, dilation, groups)

    assert y.shape == ref_y.shape and y.is_contiguous(memory_format=torch.channels_last)
    taps = kernel[0] * kernel[1]
    within_contract(y.detach(), ref_y, abs_y, taps * c // groups, "output")
    within_contract(x.grad, ref_dx, abs_dx, taps * oc // groups, "grad input")
    pixels = n * y.shape[2] * y.shape[3]
    within_contract(weight.grad, ref_dw, abs_dw, pixels, "grad weight")
    if bias is not None:
        within_contract(bias.grad, ref_db, abs_db, pixels, "grad bias")
    assert x.grad.shape == x.shape and weight.grad.shape == weight.shape
    assert (y != 0).float().mean() > 0.9


def test_module_is_a_drop_in_for_nn_conv2d():
    torch.manual_seed(0)
    ours = ckt.Conv2d(6, 10, 3, stride=2, padding=1, groups=2)
    theirs = torch.nn.Conv2d(6, 10, 3, stride=2, padding=1, groups=2)
    theirs.load_state_dict(ours.state_dict())
    assert isinstance(ours, torch.nn.Conv2d) and "backend='auto'" in repr(ours)
    x = torch.randn(4, 6, 15, 15).contiguous(memory_format=torch.channels_last)
    y_ours, y_theirs = ours(x), theirs(x)
    torch.testing.assert_close(y_ours, y_theirs, rtol=1e-4, atol=1e-4)
    y_ours.square().sum().backward()
    y_theirs.square().sum().backward()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-3)
    with torch.no_grad():
        y_inference = ours(x)  # the path without an autograd node: the same plan, the same bits
    assert not y_inference.requires_grad and torch.equal(y_inference, y_ours.detach())
    assert y_inference.is_contiguous(memory_format=torch.channels_last)


def test_only_the_gradients_asked_for():
    layer = ckt.Conv2d(3, 4, 3, padding=1)
    layer.weight.requires_grad_(False)
    x = torch.randn(1, 3, 5, 5, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is None and layer.bias.grad is not None


class RecordingLayer:
    """Wraps a convkit.Conv2d and keeps the input forward received and the output it wrote."""

    def __init__(self, layer):
        self.layer, self.calls = layer, []

    def forward(self, x, w, b=None, out=None):
        y = self.layer.forward(x, w, b, out=out)
        self.calls.append((x, y))
        return y

    def __getattr__(self, name):
        return getattr(self.layer, name)


def test_channels_last_activations_are_not_copied(monkeypatch):
    recorded = []
    real_layer = ckt._layer

    def recording_layer(*arguments):
        recorded.append(RecordingLayer(real_layer(*arguments)))
        return recorded[-1]

    monkeypatch.setattr(ckt, "_layer", recording_layer)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    x = torch.randn(2, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    y = ckt.conv2d(x, torch.randn(4, 8, 3, 3))
    [layer] = recorded
    [(x_seen, y_written)] = layer.calls
    assert np.shares_memory(x_seen, x.numpy()) and np.shares_memory(y_written, y.detach().numpy())
    assert layer.threads == torch.get_num_threads() == 1
    ckt.conv2d(x.contiguous(), torch.randn(4, 8, 3, 3), threads=2)
    assert not np.shares_memory(recorded[-1].calls[0][0], x.numpy()) and recorded[-1].threads == 2


def test_module_packs_a_weight_used_twice(monkeypatch):
    """The second forward with an unchanged weight and input shape runs from weights packed for
    that shape, bitwise equal to the HWIO call; the packed copy survives neither a weight change
    nor pickling (deepcopy and torch.save of the module still work)."""
    recorded = []
    real_layer = ckt._layer

    @functools.lru_cache(maxsize=None)
    def recording_layer(*arguments):  # cached as _layer is: the packed weights belong to one layer object
        recorded.append(RecordingWeights(real_layer(*arguments)))
        return recorded[-1]

    monkeypatch.setattr(ckt, "_layer", recording_layer)
    torch.manual_seed(2)
    layer = ckt.Conv2d(5, 7, 3, padding=1, threads=1)
    x, other = torch.randn(2, 5, 6, 7), torch.randn(1, 5, 4, 4)
    with torch.no_grad():
        first, second, third = layer(x), layer(x), layer(x)
        layer(other)
        layer.weight.add_(1.0)
        changed = layer(x)
    assert torch.equal(first, second) and torch.equal(first, third)
    [recorder] = [r for r in recorded if r.weights]
    kinds = [type(w).__name__ for w in recorder.weights]
    assert kinds == ["ndarray", "PackedWeights", "PackedWeights", "ndarray", "ndarray"], kinds
    torch.testing.assert_close(changed, F.conv2d(x, layer.weight, layer.bias, padding=1), rtol=1e-5, atol=1e-5)
    saved = io.BytesIO()
    torch.save(layer, saved)
    saved.seek(0)
    for clone in (copy.deepcopy(layer), torch.load(saved)):
        with torch.no_grad():
            torch.testing.assert_close(clone(x), changed, rtol=0, atol=0)


class RecordingWeights:
    """Wraps a convkit.Conv2d and keeps the weights each forward received."""

    def __init__(self, layer):
        self.layer, self.weights = layer, []

    def forward(self, x, w, b=None, out=None):
        self.weights.append(w)
        return self.layer.forward(x, w, b, out=out)

    def __getattr__(self, name):
        return getattr(self.layer, name)


@pytest.mark.parametrize("call, message", [
    (lambda: ckt.conv2d(torch.randn(1, 3, 5, 5, dtype=torch.float64), torch.randn(4, 3, 3, 3)), "input is torch.float64"),
    (lambda: ckt.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 2, 3, 3)), r"input has 3 channels but weight \(4, 2, 3, 3\)"),
    (lambda: ckt.conv2d(torch.randn(3, 5, 5), torch.randn(4, 3, 3, 3)), r"input must be 4-D"),
    (lambda: ckt.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3), padding=-1), r"Conv2dParams.pad_top = -1"),
    (lambda: ckt.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3), stride=2, padding="same"), "padding='same' needs stride 1"),
    (lambda: ckt.conv2d(torch.randn(1, 3, 5, 5), torch.randn(4, 3, 3, 3), backend="fastest"), '"fastest" is not a conv2d backend'),
    (lambda: ckt.Conv2d(3, 4, 3, padding_mode="reflect"), 'padding_mode="reflect"'),
    (lambda: ckt.Conv2d(3, 4, 3, groups=2), r"groups = 2 must divide in_c = 3|in_channels must be divisible by groups"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_module_sees_every_weight_change():
    """Conv2d keeps an HWIO copy of its weight, and packed weights from the second call on: each way
    of changing the weight must remake both."""
    torch.manual_seed(1)
    layer = ckt.Conv2d(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 6, 6)

    def check():
        for _ in range(3):  # from HWIO, then packed
            torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=1), rtol=1e-5, atol=1e-5)

    check()
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    layer(x).square().sum().backward()
    optimizer.step()
    check()
    layer.load_state_dict({"weight": torch.randn(4, 3, 3, 3), "bias": torch.randn(4)})
    check()
    layer.weight = torch.nn.Parameter(torch.randn(4, 3, 3, 3))
    check()
    layer.weight.data = torch.randn(4, 3, 3, 3)
    check()
