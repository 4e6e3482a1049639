"""The seed notebook's functions (convolution_step_by_step), same names, arguments, return values
and caches, computed by convkit's kernels instead of Python loops.

Layouts are the notebook's: activations NHWC (m, n_H, n_W, n_C), weights (f, f, n_C_prev, n_C),
biases (1, 1, 1, n_C). convkit computes in float32; results come back in the inputs' floating
type (numpy's result type of the inputs, at least float32), so the notebook's float64 arrays give
float64 arrays holding float32-accurate values (about 1e-6 relative).

Two deliberate differences from the notebook's code, whose printed outputs assumed the correct
formulas: conv_backward accumulates W[:, :, :, c] * dZ[i, h, w, c] into dA_prev, and
pool_backward(mode="average") spreads dA evenly over each window (the notebook's code has a slip
in each). Max-pool backward gives each window's gradient to its first maximum, where the
notebook's mask (create_mask_from_window, kept as written) would give it to every tied maximum.
"""
import functools

import numpy as np

from . import _convkit


def _result_dtype(*arrays):
    return np.result_type(*arrays, np.float32)


# One layer object per configuration: each keeps its plans per input shape, so repeated calls
# (a training loop over the notebook's functions) make no new plan.
@functools.lru_cache(maxsize=64)
def _conv_layer(in_channels, out_channels, f, stride, pad):
    return _convkit.Conv2d(in_channels, out_channels, f, stride=stride, padding=pad)


@functools.lru_cache(maxsize=64)
def _pool_layer(f, stride, mode):
    return _convkit.Pool2d(f, stride=stride, mode=mode)


def _weights_shape(W):
    W = np.asarray(W)
    if W.ndim != 4 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must have shape (f, f, n_C_prev, n_C); got {W.shape}")
    return W.shape


def _hyper(hparameters, *names):
    try:
        return tuple(int(hparameters[name]) for name in names)
    except KeyError as missing:
        raise ValueError(f"hparameters needs {', '.join(repr(n) for n in names)}; {missing} is missing") from None


def zero_pad(X, pad):
    """X (m, n_H, n_W, n_C) padded with `pad` zeros on both sides of n_H and n_W."""
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)


def conv_single_step(a_slice_prev, W, b):
    """sum(a_slice_prev * W) + b for one (f, f, n_C_prev) window: a scalar of the inputs' type."""
    a_slice_prev, W, b = np.asarray(a_slice_prev), np.asarray(W), np.asarray(b)
    if a_slice_prev.ndim != 3 or a_slice_prev.shape != W.shape:
        raise ValueError(f"a_slice_prev and W must have the same shape (f_h, f_w, n_C_prev); got {a_slice_prev.shape} and {W.shape}")
    if b.size != 1:
        raise ValueError(f"b must hold one value; got shape {b.shape}")
    f_h, f_w, n_C_prev = W.shape
    layer = _conv_layer(n_C_prev, 1, (f_h, f_w), 1, 0)
    Z = layer.forward(a_slice_prev[np.newaxis], W[..., np.newaxis], b.reshape(1))
    return Z.astype(_result_dtype(a_slice_prev, W, b)).reshape(())[()]


def conv_forward(A_prev, W, b, hparameters):
    """Z = conv(A_prev, W) + b with hparameters {"stride", "pad"}; returns (Z, cache) where
    cache = (A_prev, W, b, hparameters), as conv_backward expects."""
    A_prev, W, b = np.asarray(A_prev), np.asarray(W), np.asarray(b)
    f, _, n_C_prev, n_C = _weights_shape(W)
    stride, pad = _hyper(hparameters, "stride", "pad")
    if A_prev.ndim != 4 or A_prev.shape[3] != n_C_prev:
        raise ValueError(f"A_prev must have shape (m, n_H_prev, n_W_prev, n_C_prev={n_C_prev}) to match W {W.shape}; "
                         f"got {A_prev.shape}")
    Z = _conv_layer(n_C_prev, n_C, f, stride, pad).forward(A_prev, W, b)
    cache = (A_prev, W, b, hparameters)
    return Z.astype(_result_dtype(A_prev, W, b), copy=False), cache


def conv_backward(dZ, cache):
    """(dA_prev, dW, db) from dZ and conv_forward's cache; db has shape (1, 1, 1, n_C)."""
    A_prev, W, b, hparameters = cache
    dZ = np.asarray(dZ)
    f, _, n_C_prev, n_C = _weights_shape(W)
    stride, pad = _hyper(hparameters, "stride", "pad")
    layer = _conv_layer(n_C_prev, n_C, f, stride, pad)
    dA_prev = layer.backward_data(dZ, W, input_shape=A_prev.shape)
    dW, db = layer.backward_weights(A_prev, dZ)
    dtype = _result_dtype(dZ, A_prev, W, b)
    return dA_prev.astype(dtype, copy=False), dW.astype(dtype, copy=False), db.reshape(1, 1, 1, n_C).astype(dtype, copy=False)


def _pool_mode(mode):
    if mode not in ("max", "average"):
        raise ValueError(f'mode must be "max" or "average"; got {mode!r}')
    return mode


def pool_forward(A_prev, hparameters, mode="max"):
    """Max or average pooling of A_prev over f x f windows with hparameters {"f", "stride"} and no
    padding; returns (A, cache) where cache = (A_prev, hparameters)."""
    A_prev = np.asarray(A_prev)
    f, stride = _hyper(hparameters, "f", "stride")
    A = _pool_layer(f, stride, _pool_mode(mode)).forward(A_prev)
    return A.astype(_result_dtype(A_prev), copy=False), (A_prev, hparameters)


def pool_backward(dA, cache, mode="max"):
    """dA_prev from dA and pool_forward's cache."""
    A_prev, hparameters = cache
    dA = np.asarray(dA)
    f, stride = _hyper(hparameters, "f", "stride")
    dA_prev = _pool_layer(f, stride, _pool_mode(mode)).backward(A_prev, dA)
    return dA_prev.astype(_result_dtype(dA, A_prev), copy=False)


def create_mask_from_window(x):
    """True where x equals its maximum."""
    return x == np.max(x)


def distribute_value(dz, shape):
    """An array of `shape` (n_H, n_W) whose entries share dz equally."""
    (n_H, n_W) = shape
    return np.ones(shape) * (dz / (n_H * n_W))
