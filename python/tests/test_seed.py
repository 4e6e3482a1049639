"""The seed notebook's cells, run as written against `import convkit`, compared with the printed
values recomputed in float64 (/work/shared/seed/EXPECTED.md) to 1e-5 relative."""
import numpy as np
import pytest

import convkit
from convkit import (conv_backward, conv_forward, conv_single_step, create_mask_from_window, distribute_value,
                     pool_backward, pool_forward, zero_pad)


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=0)


def test_zero_pad():
    np.random.seed(1)
    x = np.random.randn(4, 3, 3, 2)
    x_pad = zero_pad(x, 2)
    assert x_pad.shape == (4, 7, 7, 2)
    assert_close(x[1, 1], [[0.9008559492644118, -0.6837278591743331], [-0.12289022551864817, -0.9357694342590688],
                           [-0.2678880796260159, 0.530355466738186]])
    assert np.array_equal(x_pad[1, 1], np.zeros((7, 2)))
    assert np.array_equal(x_pad[:, 2:-2, 2:-2, :], x)


def test_conv_single_step():
    np.random.seed(1)
    a_slice_prev = np.random.randn(4, 4, 3)
    W = np.random.randn(4, 4, 3)
    b = np.random.randn(1, 1, 1)
    Z = conv_single_step(a_slice_prev, W, b)
    assert np.ndim(Z) == 0 and np.asarray(Z).dtype == np.float64
    assert_close(Z, -6.999089450680221)


def conv_case():
    np.random.seed(1)
    A_prev = np.random.randn(10, 4, 4, 3)
    W = np.random.randn(2, 2, 3, 8)
    b = np.random.randn(1, 1, 1, 8)
    hparameters = {"pad": 2, "stride": 2}
    Z, cache_conv = conv_forward(A_prev, W, b, hparameters)
    return Z, cache_conv


def test_conv_forward():
    Z, cache_conv = conv_case()
    assert Z.shape == (10, 4, 4, 8) and Z.dtype == np.float64
    assert_close(np.mean(Z), 0.048995203528855794)
    assert_close(Z[3, 2, 1], [-0.6149074114497312, -6.743923604750415, -2.5515389700232336, 1.7569837711381528,
                              3.5620890156996277, 0.5303643704176972, 5.1853179849585525, 8.758984418742205])
    assert_close(cache_conv[0][1][2][3], [-0.20075807, 0.18656139, 0.41005165])
    A_prev, W, b, hparameters = cache_conv
    assert hparameters == {"pad": 2, "stride": 2} and W.shape == (2, 2, 3, 8) and b.shape == (1, 1, 1, 8)


def test_conv_backward():
    Z, cache_conv = conv_case()
    np.random.seed(1)
    dA, dW, db = conv_backward(Z, cache_conv)
    assert dA.shape == (10, 4, 4, 3) and dW.shape == (2, 2, 3, 8) and db.shape == (1, 1, 1, 8)
    assert_close(np.mean(dA), 1.4524377775388075)
    assert_close(np.mean(dW), 1.7269914583139097)
    assert_close(np.mean(db), 7.839232564616838)


@pytest.mark.parametrize("mode, expected", [
    ("max", [1.74481176421648, 0.8654076293246785, 1.1337694423354374, 1.131629387451427, 1.5198168164221988,
             2.1855754065331614]),
    ("average", [0.02105772715462664, -0.20328805548665058, -0.40389855164283966, -0.22154621411626646,
                 0.5171652566511487, 0.48155844139845133]),
])
def test_pool_forward(mode, expected):
    np.random.seed(1)
    A_prev = np.random.randn(2, 4, 4, 3)
    hparameters = {"stride": 2, "f": 3}
    A, cache = pool_forward(A_prev, hparameters, mode=mode)
    assert A.shape == (2, 1, 1, 3) and A.dtype == np.float64
    assert_close(A.ravel(), expected)
    assert cache[0] is A_prev and cache[1] is hparameters


def test_create_mask_from_window():
    np.random.seed(1)
    x = np.random.randn(2, 3)
    mask = create_mask_from_window(x)
    assert np.array_equal(mask, [[True, False, False], [False, False, False]])


def test_distribute_value():
    a = distribute_value(2, (2, 2))
    assert np.array_equal(a, [[0.5, 0.5], [0.5, 0.5]])


@pytest.mark.parametrize("mode, expected", [
    ("max", [[0, 0], [5.058443935342465, -1.6828270215556507], [0, 0]]),
    ("average", [[0.08485462489158352, 0.2787551982460382], [1.2646109838356163, -0.2574937269055999],
                 [1.179756358944033, -0.5362489251516381]]),
])
def test_pool_backward(mode, expected):
    np.random.seed(1)
    A_prev = np.random.randn(5, 5, 3, 2)
    hparameters = {"stride": 1, "f": 2}
    A, cache = pool_forward(A_prev, hparameters)
    dA = np.random.randn(5, 4, 2, 2)
    assert A.shape == (5, 4, 2, 2)
    assert_close(np.mean(dA), 0.14571390272918056)
    dA_prev = pool_backward(dA, cache, mode=mode)
    assert dA_prev.shape == A_prev.shape and dA_prev.dtype == np.float64
    assert_close(dA_prev[1, 1], expected)


def test_float32_in_float32_out():
    Z, (A_prev, W, b, hparameters) = conv_case()
    Z32, _ = conv_forward(A_prev.astype(np.float32), W.astype(np.float32), b.astype(np.float32), hparameters)
    assert Z32.dtype == np.float32
    # float64 inputs are rounded to float32 and computed exactly as float32 inputs are.
    assert np.array_equal(Z32.astype(np.float64), Z)


def test_bad_hparameters_and_mode():
    np.random.seed(1)
    with pytest.raises(ValueError, match="'pad'"):
        conv_forward(np.zeros((1, 4, 4, 3)), np.zeros((2, 2, 3, 8)), np.zeros((1, 1, 1, 8)), {"stride": 1})
    with pytest.raises(ValueError, match="mode"):
        pool_forward(np.zeros((1, 4, 4, 3)), {"f": 2, "stride": 2}, mode="min")
    with pytest.raises(ValueError, match=r"n_C_prev=4\) to match W \(2, 2, 4, 8\); got \(1, 4, 4, 3\)"):
        conv_forward(np.zeros((1, 4, 4, 3)), np.zeros((2, 2, 4, 8)), np.zeros((1, 1, 1, 8)), {"stride": 1, "pad": 0})


def test_top_level_names():
    for name in ("zero_pad", "conv_single_step", "conv_forward", "conv_backward", "pool_forward", "pool_backward",
                 "create_mask_from_window", "distribute_value"):
        assert callable(getattr(convkit, name))
