"""convkit: fast float32 2-D convolution and pooling on the CPU, forward and backward.

Arrays are NHWC (batch, height, width, channels) with HWIO weights
(kernel_h, kernel_w, in_channels/groups, out_channels), as in the seed notebook.

- The notebook's functions: zero_pad, conv_single_step, conv_forward, conv_backward,
  pool_forward, pool_backward, create_mask_from_window, distribute_value (see convkit.seed).
- Conv2d and Pool2d: layers over convkit's C++ plans, one plan per input shape;
  Conv2d.pack_weights lays weights out once for the calls of one input shape (PackedWeights).
- backends(), backend_info(), simd_arch(), parse_problem(str): the registry (names; rows with each
  backend's math, "strict" or "fast"), the instruction set, problem strings.
- convkit.torch (import it explicitly; needs PyTorch): conv2d and an nn.Module Conv2d with autograd.

Every invalid argument raises ValueError carrying convkit's message.
"""
from ._convkit import (Conv2d, Conv2dParams, PackedWeights, Pool2d, Pool2dParams, __version__, backend_info, backends,
                       parse_problem, simd_arch)
from .seed import (conv_backward, conv_forward, conv_single_step, create_mask_from_window, distribute_value,
                   pool_backward, pool_forward, zero_pad)

__all__ = [
    "Conv2d", "Conv2dParams", "PackedWeights", "Pool2d", "Pool2dParams", "backend_info", "backends", "parse_problem", "simd_arch",
    "conv_backward", "conv_forward", "conv_single_step", "create_mask_from_window", "distribute_value",
    "pool_backward", "pool_forward", "zero_pad",
]
