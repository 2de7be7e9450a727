"""The emulated kernels on random 2:4 CONV_2D / FULLY_CONNECTED layers: raw int8 B, zero point
folded into the bias, mma.sp = mma.sync = TFLite's formula."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyml_prune.ampere import format as fmt
from tinyml_prune.ampere.execute import (GemmLayer, dense_accumulators, exact_accumulators, folded_bias, im2col,
                                         run_dense, run_sparse, sparse_accumulators)
from tinyml_prune.errors import ModelError
from tinyml_prune.ampere.graph import Op
from tinyml_prune.ampere.requant import multiply_double_rounding, multiply_single_rounding
from tinyml_prune.codegen.quantization import quantize_multiplier


def _layer(rng, kind, cout, cin, kh, kw, stride, dilation, padding, h, w, rounding):
    weights = fmt.prune_2to4(rng.integers(-127, 128, (cout, kh * kw * cin)).astype(np.int8))
    scales = rng.uniform(1e-4, 2e-2, cout)
    mults, shifts = zip(*(quantize_multiplier(float(s)) for s in scales))
    if kind == "conv":
        eff = [(k - 1) * d + 1 for k, d in zip((kh, kw), dilation)]
        if padding == "SAME":
            oh, ow = -(-h // stride[0]), -(-w // stride[1])
        else:
            oh, ow = (h - eff[0]) // stride[0] + 1, (w - eff[1]) // stride[1] + 1
        conv = {"kernel": (kh, kw), "stride": stride, "dilation": dilation, "padding": padding, "cin": cin}
        in_shape, out_shape, name = (1, h, w, cin), (1, oh, ow, cout), "CONV_2D"
    else:
        conv, in_shape, out_shape, name = None, (1, kh * kw * cin), (1, cout), "FULLY_CONNECTED"
    return GemmLayer(op=Op(0, name, (0, 1, 2), (3,), {}), name="t", weights=weights,
                     bias=rng.integers(-5000, 5000, cout), input_zero_point=int(rng.integers(-128, 128)),
                     output_zero_point=int(rng.integers(-20, 20)), multiplier=np.array(mults),
                     shift=np.array(shifts), act_range=(int(rng.integers(-128, 0)), 127), rounding=rounding,
                     input_shape=in_shape, output_shape=out_shape, conv=conv)


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["conv", "fc"]), cout=st.integers(1, 24), cin=st.integers(1, 12),
       k=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), padding=st.sampled_from(["SAME", "VALID"]),
       rounding=st.sampled_from(["double", "single"]), seed=st.integers(0, 2**32 - 1))
def test_sparse_equals_dense_on_random_2to4_layers(kind, cout, cin, k, stride, dilation, padding, rounding, seed):
    rng = np.random.default_rng(seed)
    layer = _layer(rng, kind, cout, cin, k[0], k[1], stride, dilation, padding, 7, 6, rounding)
    x = rng.integers(-128, 128, layer.input_shape).astype(np.int8)
    c = fmt.compress(layer.weights)
    dense, sparse = run_dense(layer, x), run_sparse(layer, c, x)
    assert dense.shape == layer.output_shape and dense.dtype == np.int8
    assert (sparse == dense).all()
    b = im2col(layer, x)
    assert b.dtype == np.int8                                    # raw input: a real int8 operand
    exact = exact_accumulators(layer, b)
    assert (dense_accumulators(layer, b) == exact).all()
    assert (sparse_accumulators(layer, c, b) == exact).all()
    assert (sparse_accumulators(layer, c, b, "m16n8k64") == exact).all()


def test_im2col_matches_a_direct_convolution():
    rng = np.random.default_rng(3)
    layer = _layer(rng, "conv", 5, 3, 3, 2, (2, 1), (1, 2), "SAME", 7, 6, "double")
    x = rng.integers(-128, 128, layer.input_shape).astype(np.int8)
    raw = dense_accumulators(layer, im2col(layer, x))
    assert (raw == exact_accumulators(layer, im2col(layer, x))).all()
    acc = raw.T.reshape(layer.output_shape)
    # Direct loops over the output with TFLite's SAME padding (pad = floor(total / 2)).
    w = layer.weights.reshape(5, 3, 2, 3).astype(np.int64)
    xs = x[0].astype(np.int64) - layer.input_zero_point
    _, oh, ow, _ = layer.output_shape
    pt = max(0, ((oh - 1) * 2 + 3 - 7) // 2)
    pl = max(0, ((ow - 1) * 1 + 3 - 6) // 2)
    for oy in range(oh):
        for ox in range(ow):
            for co in range(5):
                s = layer.bias[co]
                for i in range(3):
                    for j in range(2):
                        y, xx = oy * 2 - pt + i, ox - pl + 2 * j
                        if 0 <= y < 7 and 0 <= xx < 6:
                            s += (xs[y, xx] * w[co, i, j]).sum()
                assert acc[0, oy, ox, co] == s


def test_rounding_modes_by_hand():
    m = np.array(1 << 30)                       # 2^30 * 2^(shift - 31) = 0.5 * 2^shift
    # x * 0.5: ties. Single rounding adds 2^30 and shifts (-1.5 -> -1); gemmlowp's SRDHM nudges
    # negatives by 1 - 2^30 and truncates, so its negative ties also go toward zero here.
    assert multiply_single_rounding(np.array([3, -3]), m, np.array(0)).tolist() == [2, -1]
    assert multiply_double_rounding(np.array([3, -3]), m, np.array(0)).tolist() == [2, -1]
    # 1 * 0.5 * 2^-1 = 0.25: double rounding rounds twice (0.5 -> 1, then 1/2 -> 1), single once (-> 0).
    assert multiply_double_rounding(np.array([1]), m, np.array(-1)).tolist() == [1]
    assert multiply_single_rounding(np.array([1]), m, np.array(-1)).tolist() == [0]
    # A left shift: 5 * 0.5 * 2^2 = 10 in both.
    assert multiply_double_rounding(np.array([5]), m, np.array(2)).tolist() == [10]
    assert multiply_single_rounding(np.array([5]), m, np.array(2)).tolist() == [10]


def test_b_is_raw_input_padded_with_the_zero_point_and_the_bias_folds_it():
    rng = np.random.default_rng(5)
    layer = _layer(rng, "conv", 4, 2, 3, 3, (1, 1), (1, 1), "SAME", 4, 4, "double")
    x = rng.integers(-128, 128, layer.input_shape).astype(np.int8)
    b = im2col(layer, x)
    zp = layer.input_zero_point
    # Output pixel (0, 0), tap (0, 0) reads above/left of the image: the zero point, both channels.
    assert b[:2, 0].tolist() == [zp, zp]
    # Centre tap (1, 1) of output pixel (0, 0) is input (0, 0).
    assert b[8:10, 0].tolist() == x[0, 0, 0].tolist()
    expect = layer.bias - zp * layer.weights.astype(np.int64).sum(axis=1)
    assert (folded_bias(layer) == expect).all() and folded_bias(layer).dtype == np.int32


def test_batch_runs_as_one_gemm():
    rng = np.random.default_rng(9)
    layer = _layer(rng, "conv", 8, 4, 1, 1, (1, 1), (1, 1), "VALID", 5, 5, "double")
    x = rng.integers(-128, 128, (3,) + layer.input_shape[1:]).astype(np.int8)
    b = im2col(layer, x)
    assert b.shape == (4, 3 * 25)
    c = fmt.compress(layer.weights)
    out = run_sparse(layer, c, x)
    assert out.shape == (3,) + layer.output_shape[1:]
    for i in range(3):
        assert (out[i:i + 1] == run_dense(layer, x[i:i + 1])).all()


def test_accumulator_outside_int32_is_refused():
    rng = np.random.default_rng(2)
    layer = _layer(rng, "fc", 2, 8, 1, 1, (1, 1), (1, 1), "VALID", 1, 1, "single")
    big = GemmLayer(**{**layer.__dict__, "bias": np.array([(1 << 31) - 1, 0])})
    x = np.full(big.input_shape, 127, np.int8)
    w = big.weights.astype(np.int64) @ (np.full(8, 127) - big.input_zero_point)
    if w[0] <= 0:
        big = GemmLayer(**{**big.__dict__, "bias": np.array([-(1 << 31), 0])})
    with pytest.raises(ModelError, match=r"output channel 0 leaves int32; the tensor core would wrap it"):
        run_dense(big, x)
