"""PyTorch interop: convkit's kernels behind the interfaces of torch.nn.functional.conv2d and
torch.nn.Conv2d, with autograd (backward runs convkit's backward_data and backward_weights).

Tensors are float32 CPU tensors shaped as PyTorch shapes them: inputs (N, C, H, W), weights OIHW
(out_channels, in_channels/groups, kH, kW). convkit computes in NHWC: an input in
torch.channels_last memory format already is NHWC in memory and is used without a copy; any
other input is copied into that layout once per call. Outputs and input gradients come back
(N, C, H, W)-shaped in channels_last memory format, as torch's own conv2d returns them for
channels_last inputs. Each call runs on torch.get_num_threads() threads unless threads= is given.
"""
import functools

import torch

from . import _convkit

__all__ = ["conv2d", "Conv2d"]


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair (height, width); got {value}")
    return value


def _padding(padding, kernel, stride, dilation):
    """PyTorch's padding argument as convkit's (top, bottom, left, right)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"padding='same' needs stride 1 (as in PyTorch); got stride {stride}")
        # PyTorch's split: the extra row or column of an odd total goes at the end.
        total_h, total_w = (d * (k - 1) for d, k in zip(dilation, kernel))
        return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    pad_h, pad_w = _pair(padding, "padding")
    return (pad_h, pad_h, pad_w, pad_w)


@functools.lru_cache(maxsize=256)
def _layer(in_channels, out_channels, kernel, stride, padding, dilation, groups, backend, threads, math):
    return _convkit.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, dilation=dilation,
                           groups=groups, backend=backend, threads=threads, math=math)


def _nhwc(t):
    """(N, C, H, W) -> (N, H, W, C) C-contiguous: a view for channels_last tensors, else a copy."""
    return t.detach().permute(0, 2, 3, 1).contiguous()


def _hwio(weight):
    """OIHW -> HWIO, C-contiguous: a strided copy, as costly as a small convolution for large layers."""
    return weight.detach().permute(2, 3, 1, 0).contiguous()


def _check_float32_cpu(t, name):
    if t.dtype != torch.float32 or t.device.type != "cpu":
        raise ValueError(f"convkit.torch computes in float32 on the CPU; {name} is {t.dtype} on {t.device}")


def _forward(x, weight, bias, layer, prepared):
    """The convolution alone: (y as (N, C, H, W) in channels_last memory, x as NHWC, w as HWIO)."""
    x_nhwc = _nhwc(x)
    x_array = x_nhwc.numpy()
    if prepared is None:
        w_hwio = _hwio(weight)
        w_forward = w_hwio.numpy()
    else:
        w_hwio, w_forward = prepared.hwio, prepared.for_forward(layer, x_array.shape)
    y = layer.forward(x_array, w_forward, None if bias is None else bias.detach().numpy())
    return torch.from_numpy(y).permute(0, 3, 1, 2), x_nhwc, w_hwio


class _PreparedWeight:
    """A weight's HWIO copy, and its forward layout for each (layer, input shape) that has run
    with it twice: a frozen weight is laid out once, a weight that changes every step (training)
    is never laid out beyond what an HWIO call does anyway."""

    MAX_SHAPES = 4  # (layer, input shape) pairs remembered; further ones run from HWIO
    _SEEN_ONCE = object()

    def __init__(self, weight):
        self.source, self.version = weight, (weight.data_ptr(), weight._version)
        self.hwio = _hwio(weight)
        self.hwio_array = self.hwio.numpy()
        self.forward_layouts = {}  # (layer, input shape) -> _SEEN_ONCE, or the packed weights

    def is_for(self, weight):
        return self.source is weight and self.version == (weight.data_ptr(), weight._version)

    def for_forward(self, layer, input_shape):
        key = (layer, input_shape)
        layout = self.forward_layouts.get(key)
        if layout is None:
            if len(self.forward_layouts) < self.MAX_SHAPES:
                self.forward_layouts[key] = self._SEEN_ONCE
            return self.hwio_array
        if layout is self._SEEN_ONCE:
            layout = self.forward_layouts[key] = layer.pack_weights(self.hwio_array, input_shape)
        return layout


class _Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, layer, prepared):
        y, x_nhwc, w_hwio = _forward(x, weight, bias, layer, prepared)
        ctx.save_for_backward(x_nhwc, w_hwio)
        ctx.layer = layer
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        x_nhwc, w_hwio = ctx.saved_tensors
        dy = _nhwc(grad_y).numpy()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            dx = torch.empty(x_nhwc.shape, dtype=torch.float32)
            ctx.layer.backward_data(dy, w_hwio.numpy(), input_shape=tuple(x_nhwc.shape), out=dx.numpy())
            grad_x = dx.permute(0, 3, 1, 2)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            dw, db = ctx.layer.backward_weights(x_nhwc.numpy(), dy)
            grad_w = torch.from_numpy(dw).permute(3, 2, 0, 1).contiguous() if ctx.needs_input_grad[1] else None
            grad_b = torch.from_numpy(db) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, backend="auto", threads=None,
           math="strict"):
    """torch.nn.functional.conv2d on convkit: input (N, C, H, W), weight OIHW, bias (out_channels,) or None;
    padding an int, a pair, "valid" or "same". backend, threads (None: torch.get_num_threads()) and
    math as in convkit.Conv2d. The weight is laid out as HWIO at every call (Conv2d keeps it)."""
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, backend, threads, math, None)


def _conv2d(input, weight, bias, stride, padding, dilation, groups, backend, threads, math, prepared):
    _check_float32_cpu(input, "input")
    _check_float32_cpu(weight, "weight")
    if bias is not None:
        _check_float32_cpu(bias, "bias")
    if input.dim() != 4:
        raise ValueError(f"input must be 4-D (N, C, H, W); got shape {tuple(input.shape)}")
    if weight.dim() != 4:
        raise ValueError(f"weight must be 4-D OIHW (out_channels, in_channels/groups, kH, kW); got shape {tuple(weight.shape)}")
    if input.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"input has {input.shape[1]} channels but weight {tuple(weight.shape)} with groups={groups} "
                         f"expects {weight.shape[1] * groups}")
    kernel = (weight.shape[2], weight.shape[3])
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = _padding(padding, kernel, stride, dilation)
    layer = _layer(input.shape[1], weight.shape[0], kernel, stride, pads, dilation, groups, backend,
                   torch.get_num_threads() if threads is None else threads, math)
    if torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad or
                                    (bias is not None and bias.requires_grad)):
        return _Conv2dFunction.apply(input, weight, bias, layer, prepared)
    # Nothing to differentiate (inference, torch.no_grad()): no autograd node, nothing saved.
    return _forward(input, weight, bias, layer, prepared)[0]


class Conv2d(torch.nn.Conv2d):
    """torch.nn.Conv2d computed by convkit: same arguments, parameters and state_dict (OIHW weight),
    plus backend, threads (None: torch.get_num_threads() at each call) and math. Only
    padding_mode="zeros"; float32 on the CPU. Keeps an HWIO copy of the weight between calls and,
    from the second forward with the same weight and input shape, the weight packed for that shape;
    both are remade whenever the weight changes (an optimizer step, load_state_dict, a new Parameter)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None, *, backend="auto", threads=None, math="strict"):
        if padding_mode != "zeros":
            raise ValueError(f'convkit.torch.Conv2d pads with zeros only; got padding_mode="{padding_mode}"')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
                         device, dtype)
        self.backend, self.threads, self.math = backend, threads, math
        # Bad arguments fail here, not at the first forward.
        _layer(in_channels, out_channels, self.kernel_size, self.stride,
               _padding(self.padding, self.kernel_size, self.stride, self.dilation), self.dilation, groups, backend,
               0 if threads is None else threads, math)

    def forward(self, input):
        return _conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                       self.backend, self.threads, self.math, self._prepared_weight())

    def _prepared_weight(self):
        # Holding the source tensor keeps its identity meaningful; in-place updates bump _version.
        prepared = self.__dict__.get("_prepared")
        if prepared is None or not prepared.is_for(self.weight):
            prepared = self.__dict__["_prepared"] = _PreparedWeight(self.weight)
        return prepared

    def __getstate__(self):
        # The prepared weight holds compiled layers, which neither pickle nor deepcopy; it is remade on use.
        state = self.__dict__.copy()
        state.pop("_prepared", None)
        return state

    def extra_repr(self):
        return super().extra_repr() + f", backend={self.backend!r}, threads={self.threads}, math={self.math!r}"
