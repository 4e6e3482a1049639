"""convkit.Conv2d and convkit.Pool2d: every registered backend against the C++ naive backend through
this module, naive against a float64 numpy reference, conversions, plan caching, bad input, and
the GIL released while kernels run."""
import sys
import threading
import time

import numpy as np
import pytest

import convkit

EPS = 2.0 ** -24

# (batch, in_h, in_w, in_c, out_c, kernel, stride, padding, dilation, groups), kernel etc. as Conv2d takes them.
CONV_SHAPES = [
    (10, 4, 4, 3, 8, 2, 2, 2, 1, 1),                 # the seed notebook's layer
    (2, 7, 9, 5, 7, 3, 1, 1, 1, 1),
    (1, 8, 8, 16, 17, 1, 1, 0, 1, 1),
    (2, 9, 7, 6, 4, (3, 2), (2, 1), (0, 1, 2, 0), 1, 1),  # asymmetric kernel, stride and padding
    (1, 10, 10, 4, 6, 3, 1, 2, 2, 1),                # dilation
    (2, 6, 6, 8, 8, 3, 1, 1, 1, 8),                  # depthwise
    (1, 6, 5, 6, 9, 3, 2, 1, 1, 3),                  # groups
    (1, 5, 5, 15, 33, 1, 3, 0, 1, 1),                # stride larger than the kernel
    (1, 3, 3, 2, 3, 3, 1, 4, 1, 1),                  # padding larger than the kernel
]


def conv_id(shape):
    return "_".join(str(v).replace(" ", "") for v in shape)


def make_layer(shape, **options):
    _, _, _, in_c, out_c, kernel, stride, padding, dilation, groups = shape
    return convkit.Conv2d(in_c, out_c, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                          **options)


def random_data(shape, rng):
    batch, in_h, in_w, in_c, out_c, *_ = shape
    layer = make_layer(shape, backend="naive")
    p = layer.params((batch, in_h, in_w, in_c))
    x = rng.uniform(-1, 1, (batch, in_h, in_w, in_c)).astype(np.float32)
    w = rng.uniform(-1, 1, layer.weight_shape).astype(np.float32)
    b = rng.uniform(-1, 1, out_c).astype(np.float32)
    dy = rng.uniform(-1, 1, (batch, p.out_h, p.out_w, out_c)).astype(np.float32)
    return p, x, w, b, dy


def reference_forward(p, x, w, b):
    """float64 loops over the kernel taps, group by group."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    xp = np.pad(x, ((0, 0), (p.pad_top, p.pad_bottom), (p.pad_left, p.pad_right), (0, 0)))
    y = np.zeros((p.batch, p.out_h, p.out_w, p.out_c)) + b
    icg, ocg = p.in_c // p.groups, p.out_c // p.groups
    for i in range(p.kernel_h):
        for j in range(p.kernel_w):
            h0, w0 = i * p.dilation_h, j * p.dilation_w
            window = xp[:, h0:h0 + p.stride_h * (p.out_h - 1) + 1:p.stride_h,
                        w0:w0 + p.stride_w * (p.out_w - 1) + 1:p.stride_w, :]
            for g in range(p.groups):
                y[..., g * ocg:(g + 1) * ocg] += window[..., g * icg:(g + 1) * icg] @ w[i, j, :, g * ocg:(g + 1) * ocg]
    return y


MATH = {row["name"]: row["math"] for row in convkit.backend_info()}


def assert_within_contract(actual, expected, magnitude, terms, math="strict"):
    """The contract's bound: 2(m+2)2^-24 M for a strict backend, plus 2^-13 M for a fast one."""
    bound = (2 * (terms + 2) * EPS + (2.0 ** -13 if math == "fast" else 0.0)) * magnitude
    excess = np.abs(actual.astype(np.float64) - expected) - bound
    assert excess.max() <= 0, f"worst excess over the bound: {excess.max()}"


@pytest.mark.parametrize("shape", CONV_SHAPES, ids=conv_id)
def test_naive_matches_float64_reference(shape):
    rng = np.random.default_rng(7)
    p, x, w, b, _ = random_data(shape, rng)
    layer = make_layer(shape, backend="naive")
    y = layer.forward(x, w, b)
    assert layer.backend == "naive"
    magnitude = reference_forward(p, np.abs(x), np.abs(w), np.abs(b))
    assert_within_contract(y, reference_forward(p, x, w, b), magnitude, p.kernel_h * p.kernel_w * p.in_c // p.groups)
    assert np.count_nonzero(y) > 0.9 * y.size


@pytest.mark.parametrize("backend", convkit.backends())
@pytest.mark.parametrize("shape", CONV_SHAPES, ids=conv_id)
def test_backend_matches_naive(shape, backend):
    rng = np.random.default_rng(11)
    p, x, w, b, dy = random_data(shape, rng)
    naive = make_layer(shape, backend="naive")
    layer = make_layer(shape, backend=backend)
    try:
        y = layer.forward(x, w, b)
    except ValueError as declined:
        pytest.skip(f"{backend} declines {p}: {declined}")
    assert layer.backend == backend
    # naive's results are themselves within the strict bound of the exact values: allow both errors.
    served = layer.backends_for(x.shape)
    math = {direction: MATH[name] for direction, name in served.items()}
    taps = p.kernel_h * p.kernel_w
    assert_within_contract(y, naive.forward(x, w, b), 2 * naive.forward(np.abs(x), np.abs(w), np.abs(b)),
                           taps * p.in_c // p.groups, math["forward"])
    dx = layer.backward_data(dy, w)
    assert dx.shape == x.shape
    assert_within_contract(dx, naive.backward_data(dy, w, input_shape=x.shape),
                           2 * naive.backward_data(np.abs(dy), np.abs(w), input_shape=x.shape),
                           taps * p.out_c // p.groups, math["backward_data"])
    dw, db = layer.backward_weights(x, dy)
    ref_dw, ref_db = naive.backward_weights(x, dy)
    abs_dw, abs_db = naive.backward_weights(np.abs(x), np.abs(dy))
    terms = p.batch * p.out_h * p.out_w
    assert_within_contract(dw, ref_dw, 2 * abs_dw, terms, math["backward_weights"])
    assert_within_contract(db, ref_db, 2 * abs_db, terms, math["backward_weights"])


def test_adjoint_identity_through_the_module():
    """<forward(x, w), dy> == <x, backward_data(dy, w)> == <w, backward_weights(x, dy)> without bias."""
    rng = np.random.default_rng(3)
    shape = CONV_SHAPES[3]
    p, x, w, _, dy = random_data(shape, rng)
    layer = make_layer(shape)
    y = layer.forward(x, w)
    dw, _ = layer.backward_weights(x, dy)
    products = [np.vdot(y.astype(np.float64), dy), np.vdot(x.astype(np.float64), layer.backward_data(dy, w)),
                np.vdot(w.astype(np.float64), dw)]
    np.testing.assert_allclose(products[1:], [products[0]] * 2, rtol=1e-5)


def test_relu_activation_is_fused_into_forward():
    rng = np.random.default_rng(5)
    shape = CONV_SHAPES[1]
    _, x, w, b, _ = random_data(shape, rng)
    plain = make_layer(shape, backend="naive").forward(x, w, b)
    fused = make_layer(shape, backend="naive", activation="relu").forward(x, w, b)
    assert np.array_equal(fused, np.maximum(plain, 0))
    assert (plain < 0).any()


def test_math_fast_is_accepted_and_kept():
    layer = convkit.Conv2d(4, 4, 3, padding=1, math="fast")
    assert layer.math == "fast"
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((1, 6, 6, 4), dtype=np.float32), rng.standard_normal((3, 3, 4, 4), dtype=np.float32)
    strict = convkit.Conv2d(4, 4, 3, padding=1, backend="naive").forward(x, w)
    np.testing.assert_allclose(layer.forward(x, w), strict, rtol=1e-3, atol=1e-3)


def test_conversions_give_the_float32_result():
    rng = np.random.default_rng(13)
    shape = CONV_SHAPES[1]
    _, x, w, b, _ = random_data(shape, rng)
    layer = make_layer(shape)
    expected = layer.forward(x, w, b)
    assert expected.dtype == np.float32 and expected.flags.c_contiguous
    # float64, Fortran order, a strided view, integers and lists: converted, same numbers.
    assert np.array_equal(layer.forward(x.astype(np.float64), w, b), expected)
    assert np.array_equal(layer.forward(np.asfortranarray(x), np.asfortranarray(w), b), expected)
    doubled = np.repeat(x, 2, axis=2)[:, :, ::2, :]
    assert not doubled.flags.c_contiguous
    assert np.array_equal(layer.forward(doubled, w, b.reshape(1, 1, 1, -1)), expected)
    ints = np.rint(x * 4).astype(np.int32)
    assert np.array_equal(layer.forward(ints, w, b), layer.forward(ints.astype(np.float32), w, b))
    assert np.array_equal(layer.forward(x.tolist(), w, b), expected)


def test_out_is_written_in_place():
    rng = np.random.default_rng(17)
    shape = CONV_SHAPES[0]
    p, x, w, b, dy = random_data(shape, rng)
    layer = make_layer(shape)
    out = np.full((p.batch, p.out_h, p.out_w, p.out_c), np.nan, dtype=np.float32)
    y = layer.forward(x, w, b, out=out)
    assert np.shares_memory(y, out) and np.array_equal(out, layer.forward(x, w, b))
    dx = np.full(x.shape, np.nan, dtype=np.float32)
    assert np.shares_memory(layer.backward_data(dy, w, out=dx), dx) and not np.isnan(dx).any()
    with pytest.raises(ValueError, match="out must be a writable C-contiguous float32 array"):
        layer.forward(x, w, b, out=out.astype(np.float64))
    with pytest.raises(ValueError, match=r"out must have shape \(10, 4, 4, 8\)"):
        layer.forward(x, w, b, out=out[:5])


def test_numpy_integers_as_sizes():
    layer = convkit.Conv2d(np.int64(3), 4, np.int32(3), stride=(np.int64(2), 1), padding=np.array([1, 0, 1, 1]))
    assert (layer.kernel_size, layer.stride, layer.padding) == ((3, 3), (2, 1), (1, 0, 1, 1))


def test_one_plan_per_input_shape():
    layer = convkit.Conv2d(3, 4, 3, padding=1)
    w = np.ones((3, 3, 3, 4), np.float32)
    for batch, size in [(1, 5), (1, 5), (2, 5), (1, 6), (2, 5)]:
        layer.forward(np.ones((batch, size, size, 3), np.float32), w)
    assert layer.plan_count == 3
    layer.clear_plans()
    assert layer.plan_count == 0 and layer.backend is None


@pytest.mark.parametrize("backend", convkit.backends())
def test_packed_weights_give_the_hwio_result(backend):
    """Weights packed once for an input shape: forward gives the HWIO call's bits; backward data may
    sum in another order (direct reads HWIO in place where that is faster), so it is held to the
    contract's bound against the HWIO call."""
    rng = np.random.default_rng(5)
    layer = convkit.Conv2d(16, 17, 3, padding=(1, 0, 2, 1), backend=backend, threads=2)  # winograd takes it too
    x = rng.standard_normal((2, 7, 8, 16), dtype=np.float32)
    w = rng.standard_normal((3, 3, 16, 17), dtype=np.float32)
    b = rng.standard_normal(17, dtype=np.float32)
    y = layer.forward(x, w, b)
    packed = layer.pack_weights(w, x.shape)
    assert isinstance(packed, convkit.PackedWeights) and packed.input_shape == x.shape and packed.direction == "forward"
    np.testing.assert_array_equal(layer.forward(x, packed, b), y)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    dx = layer.backward_data(dy, w, input_shape=x.shape)
    packed_back = layer.pack_weights(w, x.shape, direction="backward_data")
    magnitude = 2 * layer.backward_data(np.abs(dy), np.abs(w), input_shape=x.shape)
    for dx_packed in (layer.backward_data(dy, packed_back), layer.backward_data(dy, packed_back, input_shape=x.shape)):
        assert_within_contract(dx_packed, dx, magnitude, 9 * 17, MATH[layer.backends_for(x.shape)["backward_data"]])


def test_packed_weights_bad_use():
    layer = convkit.Conv2d(3, 4, 3, padding=1)
    w = np.ones((3, 3, 3, 4), np.float32)
    x = np.ones((1, 6, 6, 3), np.float32)
    packed = layer.pack_weights(w, x.shape)
    with pytest.raises(ValueError, match=r"w was packed for input shape \(1, 6, 6, 3\), not \(1, 7, 6, 3\)"):
        layer.forward(np.ones((1, 7, 6, 3), np.float32), packed)
    direct = convkit.Conv2d(3, 4, 3, padding=1, backend="direct")
    packed_direct = direct.pack_weights(w, x.shape)
    x2 = np.random.default_rng(1).standard_normal((2, 6, 6, 3), dtype=np.float32)
    np.testing.assert_array_equal(direct.forward(x2, packed_direct), direct.forward(x2, w))  # another batch size
    dy2 = np.ones((2, 6, 6, 4), np.float32)
    packed_back = direct.pack_weights(w, x.shape, direction="backward_data")
    assert direct.backward_data(dy2, packed_back).shape == x2.shape  # the batch comes from dy
    with pytest.raises(ValueError, match=r'w was packed for forward, not backward_data \(pack_weights\(w, input_shape, "backward_data"\)\)'):
        layer.backward_data(np.ones((1, 6, 6, 4), np.float32), packed)
    other = convkit.Conv2d(3, 4, 3, padding=0)
    with pytest.raises(ValueError, match="packed for another problem"):
        other.forward(np.ones((1, 6, 6, 3), np.float32), packed)
    with pytest.raises(ValueError, match='direction must be "forward" or "backward_data"'):
        layer.pack_weights(w, x.shape, direction="backward_weights")
    with pytest.raises(ValueError, match=r"w must have shape \(3, 3, 3, 4\)"):
        layer.pack_weights(w[:, :, :2], x.shape)


def test_backward_data_input_shape():
    w = np.ones((3, 3, 2, 2), np.float32)
    stride1 = convkit.Conv2d(2, 2, 3, padding=(0, 1, 1, 1))
    assert stride1.backward_data(np.ones((1, 4, 5, 2), np.float32), w).shape == (1, 5, 5, 2)
    stride2 = convkit.Conv2d(2, 2, 3, stride=2, padding=1)
    with pytest.raises(ValueError, match="pass input_shape"):
        stride2.backward_data(np.ones((1, 3, 3, 2), np.float32), w)
    stride2.forward(np.ones((1, 6, 6, 2), np.float32), w)
    assert stride2.backward_data(np.ones((1, 3, 3, 2), np.float32), w).shape == (1, 6, 6, 2)
    assert stride2.backward_data(np.ones((1, 3, 3, 2), np.float32), w, input_shape=(1, 5, 5, 2)).shape == (1, 5, 5, 2)


@pytest.mark.parametrize("call, message", [
    (lambda l, x, w: l.forward(x[0], w), r"x must be a 4-D NHWC .* got shape \(6, 6, 3\)"),
    (lambda l, x, w: l.forward(np.ones((1, 6, 6, 5)), w), r"x has 5 channels \(shape\[3\]\) but the layer was built for in_channels=3"),
    (lambda l, x, w: l.forward(x, w[:, :, :2]), r"w must have shape \(3, 3, 3, 4\)"),
    (lambda l, x, w: l.forward(x, w, np.ones(3)), r"b must hold out_channels=4 values .* got shape \(3,\)"),
    (lambda l, x, w: l.forward(x, w[0]), r"w must be a 4-D HWIO"),
    (lambda l, x, w: l.forward("text", w), r"x cannot be converted to a float32 array"),
    (lambda l, x, w: l.backward_data(np.ones((1, 6, 6, 3)), w), r"dy must have shape \(1, 6, 6, 4\)"),
    (lambda l, x, w: l.backward_weights(x, np.ones((1, 5, 6, 4))), r"dy must have shape \(1, 6, 6, 4\)"),
    (lambda l, x, w: l.forward(np.ones((1, 0, 6, 3)), w), r"Conv2dParams.in_h = 0"),
])
def test_bad_arguments_name_the_problem(call, message):
    layer = convkit.Conv2d(3, 4, 3, padding=1)
    with pytest.raises(ValueError, match=message):
        call(layer, np.ones((1, 6, 6, 3), np.float32), np.ones((3, 3, 3, 4), np.float32))


@pytest.mark.parametrize("arguments, message", [
    (dict(padding=-1), r"Conv2dParams.pad_top = -1"),
    (dict(padding=(1, 2, 3)), r"padding must be an int, a pair"),
    (dict(stride=0), r"Conv2dParams.stride_h = 0"),
    (dict(dilation=(1, -2)), r"Conv2dParams.dilation_w = -2"),
    (dict(groups=2), r"Conv2dParams.groups = 2 must divide in_c = 3"),
    (dict(backend="fastest"), r'"fastest" is not a conv2d backend'),
    (dict(threads=-1), r"Options.threads = -1"),
    (dict(activation="tanh"), r"activation must be None or \"relu\""),
    (dict(math="exact"), r"math must be \"strict\" or \"fast\""),
    (dict(stride=1.5), r"stride must be an int or a sequence of ints; got 1.5"),
    (dict(dilation="2"), r"dilation must be an int or a sequence of ints; got '2'"),
])
def test_bad_layer_arguments_fail_at_construction(arguments, message):
    with pytest.raises(ValueError, match=message):
        convkit.Conv2d(3, 4, 3, **arguments)


# (batch, in_h, in_w, channels, kernel, stride, padding, mode, count_include_pad, ceil_mode)
POOL_SHAPES = [
    (2, 4, 4, 3, 3, 2, 0, "max", False, False),
    (2, 4, 4, 3, 3, 2, 0, "average", False, False),
    (1, 7, 9, 17, 3, 2, 1, "max", False, True),
    (2, 6, 5, 8, (2, 3), (1, 2), (1, 0, 1, 1), "average", True, False),
    (1, 9, 9, 4, 3, 2, 1, "average", False, True),
]


def reference_pool(p, x):
    """float64 pooling with PyTorch's divisors (ARCHITECTURE.md), window by window."""
    y = np.zeros((p.batch, p.out_h, p.out_w, p.channels))
    for oh in range(p.out_h):
        for ow in range(p.out_w):
            h0, w0 = oh * p.stride_h - p.pad_top, ow * p.stride_w - p.pad_left
            h1, w1 = min(h0 + p.window_h, p.in_h + p.pad_bottom), min(w0 + p.window_w, p.in_w + p.pad_right)
            window = x[:, max(h0, 0):min(h1, p.in_h), max(w0, 0):min(w1, p.in_w), :].astype(np.float64)
            if p.mode == "max":
                y[:, oh, ow] = window.max(axis=(1, 2))
            else:
                count = (h1 - h0) * (w1 - w0) if p.count_include_pad else window.shape[1] * window.shape[2]
                y[:, oh, ow] = window.sum(axis=(1, 2)) / count
    return y


@pytest.mark.parametrize("backend", convkit.backends("pool2d"))
@pytest.mark.parametrize("shape", POOL_SHAPES, ids=conv_id)
def test_pool_matches_reference_and_naive(shape, backend):
    batch, in_h, in_w, channels, kernel, stride, padding, mode, include_pad, ceil_mode = shape
    rng = np.random.default_rng(19)
    x = rng.uniform(-1, 1, (batch, in_h, in_w, channels)).astype(np.float32)

    def make(name):
        return convkit.Pool2d(kernel, stride=stride, padding=padding, mode=mode, count_include_pad=include_pad,
                              ceil_mode=ceil_mode, backend=name)

    layer, naive = make(backend), make("naive")
    y = layer.forward(x)
    assert layer.backend == backend
    p = layer.params(x.shape)
    np.testing.assert_allclose(y, reference_pool(p, x), rtol=1e-6, atol=1e-6)
    dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
    np.testing.assert_allclose(layer.backward(x, dy), naive.backward(x, dy), rtol=1e-6, atol=1e-6)
    # Adjoint with the window choice fixed: <pool(x), dy> == <x, pool_backward(dy)> for max,
    # and for average the backward is the exact transpose of the forward's linear map.
    np.testing.assert_allclose(np.vdot(y.astype(np.float64), dy), np.vdot(x.astype(np.float64), layer.backward(x, dy)),
                               rtol=1e-5)


@pytest.mark.parametrize("arguments, message", [
    (dict(kernel_size=3, padding=2), r"Pool2dParams.pad_top = 2 must be at most half of window_h = 3"),
    (dict(kernel_size=2, mode="min"), r"mode must be \"max\" or \"average\""),
    (dict(kernel_size=2, backend="fastest"), r'"fastest" is not a pool2d backend'),
    (dict(kernel_size=0), r"Pool2dParams.window_h = 0"),
])
def test_bad_pool_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        convkit.Pool2d(**arguments)


def test_pool_bad_input():
    layer = convkit.Pool2d(2)
    with pytest.raises(ValueError, match=r"x must be a 4-D NHWC"):
        layer.forward(np.ones((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 2, 2, 3\)"):
        layer.backward(np.ones((1, 4, 4, 3), np.float32), np.ones((1, 2, 3, 3), np.float32))


def test_registry_and_problem_strings():
    assert convkit.backends()[0] == "naive" and convkit.backends("pool2d")[0] == "naive"
    assert [row["name"] for row in convkit.backend_info()] == convkit.backends()
    assert MATH["naive"] == "strict" and set(MATH.values()) <= {"strict", "fast"}
    assert convkit.simd_arch() in ("avx512", "avx2", "sse2")
    conv = convkit.parse_problem("mb2_ic3ih32_oc8_kh3_ph1pw1")
    assert isinstance(conv, convkit.Conv2dParams)
    assert (conv.batch, conv.in_w, conv.kernel_w, conv.pad_left, conv.out_h) == (2, 32, 3, 1, 32)
    assert convkit.parse_problem(str(conv)) == conv
    pool = convkit.parse_problem("mb1_c64ih112iw112_avg_kh3kw3_sh2sw2_ph1pw1_incl")
    assert isinstance(pool, convkit.Pool2dParams) and pool.mode == "average" and pool.count_include_pad
    assert convkit.parse_problem(str(pool)) == pool
    assert str(convkit.Conv2d(3, 8, 3, padding=1).params((2, 32, 32, 3))) == str(conv)
    with pytest.raises(ValueError, match="cannot parse problem"):
        convkit.parse_problem("mb1_ic3_x")
    with pytest.raises(ValueError, match="kind must be"):
        convkit.backends("conv3d")


def test_kernels_run_without_the_gil():
    """One thread runs a long convolution; another keeps running short ones. If the long call
    held the GIL, the other thread could finish no call while it runs."""
    rng = np.random.default_rng(23)
    long_layer = convkit.Conv2d(64, 64, 3, padding=1, threads=1, backend="naive")
    x = rng.standard_normal((3, 56, 56, 64), dtype=np.float32)
    w = rng.standard_normal((3, 3, 64, 64), dtype=np.float32)
    short_layer = convkit.Conv2d(8, 8, 3, padding=1, threads=1)
    xs, ws = np.ones((1, 8, 8, 8), np.float32), np.ones((3, 3, 8, 8), np.float32)
    finished, stop = [], threading.Event()

    def short_calls():
        while not stop.is_set():
            short_layer.forward(xs, ws)
            finished.append(time.perf_counter())

    other = threading.Thread(target=short_calls)
    other.start()
    try:
        while not finished:
            time.sleep(0.001)
        start = time.perf_counter()
        long_layer.forward(x, w)
        end = time.perf_counter()
    finally:
        stop.set()
        other.join()
    # Holding the GIL, the long call would leave one silence as long as itself, less the couple of
    # switch intervals the other thread may run just before it starts and just after it returns.
    duration = end - start
    assert duration > 10 * sys.getswitchinterval(), f"the long call ({duration:.3f} s) is too short to tell"
    timeline = [start] + [t for t in finished if start < t < end] + [end]
    longest_silence = max(later - earlier for earlier, later in zip(timeline, timeline[1:]))
    assert longest_silence < duration / 2, (
        f"no short call finished for {longest_silence:.3f} s of a {duration:.3f} s call")
