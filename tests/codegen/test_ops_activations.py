"""RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH and QUANTIZE (int8 -> int8)
as 256-entry tables, bit-exact with TFLite BUILTIN_REF.

Each operator is a function of one int8 value, so a [1, 256] model fed every int8 value once
checks the whole table. Hypothesis draws scales (ratios far above and below 1, so multipliers
shift left and right), zero points (the int8 extremes included) and LEAKY_RELU's alpha; the
tables are compared with the interpreter directly (cheap, many draws), and the generated C
is compiled and run for a few draws per operator and under the sanitizers.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyml_prune.codegen import read_tflite
from tinyml_prune.codegen.generate import CodegenOptions, build_program
from tinyml_prune.codegen.ops import make_emitter
from tinyml_prune.errors import ModelError, UnsupportedOpError
from tinyml_prune.verify import random_inputs, reference_run, verify_host
from helpers.boards import assert_bit_exact_on_board

from . import opmodels_activations as oa

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")

TABLE_SWEEP = settings(max_examples=40, deadline=None, derandomize=True,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
C_SWEEP = settings(max_examples=3, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ZERO_POINT = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))


def _log_uniform(lo: float, hi: float):
    return st.floats(np.log(lo), np.log(hi)).map(lambda v: float(np.float32(np.exp(v))))


@st.composite
def quant(draw, opcode: str) -> dict:
    """Quantization parameters TFLite accepts for ``opcode``: scale ratios from 1/4000 to 4000."""
    s_in = draw(_log_uniform(1e-3, 4.0))
    if opcode == "LOGISTIC":  # TFLite fixes the scale, not the zero point
        s_out = 1.0 / 256
    elif opcode == "HARD_SWISH":  # TFLite requires output scale > input scale / 128
        s_out = float(np.float32(s_in / 128 * draw(_log_uniform(1.001, 1e4))))
    else:
        s_out = draw(_log_uniform(1e-3, 4.0))
    alpha = draw(st.floats(-3, 3, width=32)) if opcode == "LEAKY_RELU" else None
    return dict(in_scale=s_in, in_zp=draw(ZERO_POINT), out_scale=s_out, out_zp=draw(ZERO_POINT), alpha=alpha)


def reference(model: bytes) -> np.ndarray:
    """BUILTIN_REF's outputs for inputs -128..127, in that order (= table order)."""
    out, _ = reference_run(model, oa.ALL_INPUTS)
    return out[0].astype(np.int8)


def table_of(model: bytes, options: CodegenOptions = CodegenOptions()) -> np.ndarray:
    program = build_program(read_tflite(model), options)
    (e,) = program.emitters
    assert [a.kind for a in e.arrays] == ["params"] and e.arrays[0].values.shape == (256,)
    return e.table_values


def tflite_accepts(model: bytes) -> bool:
    try:
        reference_run(model, oa.ALL_INPUTS)
    except (RuntimeError, ValueError, ModelError):  # the interpreter's Prepare refuses it
        return False
    return True


def assert_c_bit_exact(model: bytes, sanitize: bool):
    result = verify_host(model, oa.ALL_INPUTS, sanitize=sanitize)
    assert result.ok, str(result.mismatch)


# -- tables against the interpreter -------------------------------------------------------

@pytest.mark.parametrize("opcode", oa.LUT_OPS)
@TABLE_SWEEP
@given(data=st.data())
def test_table_equals_reference_for_all_inputs(opcode, data):
    q = data.draw(quant(opcode))
    model = oa.single(opcode, **q)
    np.testing.assert_array_equal(table_of(model), reference(model), err_msg=f"{opcode} {q}")


EDGES = [
    # (opcode, in_scale, in_zp, out_scale, out_zp, alpha): large left shifts, extreme zero points
    ("RELU", 1.0, 0, 2.0 ** -20, 0, None),
    ("RELU", 0.5, -128, 1e-3, 127, None),
    ("RELU6", 0.05, 127, 0.05, -128, None),
    ("RELU6", 0.3, -128, 0.001, -128, None),
    ("RELU_N1_TO_1", 0.01, 0, 0.002, 127, None),
    ("RELU_N1_TO_1", 1e-6, 0, 1.0, 0, None),  # a multiplier that flushes to zero
    ("QUANTIZE", 1.0, -128, 2.0 ** -25, 127, None),
    ("QUANTIZE", 0.02, 5, 0.02, 5, None),  # the identity
    ("QUANTIZE", 0.02, -128, 0.04, 127, None),
    ("LEAKY_RELU", 0.1, 3, 0.1, -3, -1.0),  # a negative alpha whose mantissa is exactly -1/2
    ("LEAKY_RELU", 0.1, 3, 0.1, -3, -0.9999999),  # a negative mantissa just above -1
    ("LEAKY_RELU", 0.1, -128, 0.001, 127, 0.0),
    ("LEAKY_RELU", 0.05, 127, 0.02, -128, 2.5),
    ("LOGISTIC", 0.1, -128, 1.0 / 256, -128, None),
    ("LOGISTIC", 2.0, 127, 1.0 / 256, 0, None),  # TFLite does not check the zero point
    ("TANH", 0.05, 0, 1.0 / 128, 0, None),
    ("TANH", 3.0, -128, 1e-9, 127, None),  # out-of-range float -> int conversions
    ("TANH", 0.01, 127, 0.5, -128, None),
    ("HARD_SWISH", 4.0, 0, 4.0 / 128 * 1.0001, 0, None),  # close to the smallest output scale TFLite allows
    ("HARD_SWISH", 1.0, -128, 0.01, 127, None),  # reluish multiplier > 1: saturating left shifts
    ("HARD_SWISH", 0.001, 127, 0.5, -128, None),  # reluish multiplier < 1: right shift
]


@pytest.mark.parametrize("case", EDGES, ids=lambda c: f"{c[0]}-{c[1]:g}-{c[2]}-{c[3]:g}-{c[4]}")
def test_edge_tables_equal_reference(case):
    opcode, s_in, z_in, s_out, z_out, alpha = case
    model = oa.single(opcode, s_in, z_in, s_out, z_out, alpha=alpha)
    np.testing.assert_array_equal(table_of(model), reference(model))


@pytest.mark.parametrize("opcode", oa.LUT_OPS)
def test_tflm_rounding_option_gives_the_same_tables(opcode):
    # TFLite's reference kernels round these ops like gemmlowp (double rounding), as TFLM does.
    model = oa.single(opcode, 0.037, -11, *oa.output_quant(opcode, np.random.default_rng(1)), alpha=-0.3)
    np.testing.assert_array_equal(table_of(model, CodegenOptions(rounding="tflm")), reference(model))


# -- the generated C ------------------------------------------------------------------------

@pytest.mark.parametrize("opcode", oa.LUT_OPS)
def test_generated_c_all_inputs_under_sanitizers(opcode):
    s_out, z_out = oa.output_quant(opcode, np.random.default_rng(5))
    assert_c_bit_exact(oa.single(opcode, 0.045, -9, s_out, z_out, alpha=0.15), sanitize=True)


@pytest.mark.parametrize("opcode", oa.LUT_OPS)
@C_SWEEP
@given(data=st.data())
def test_generated_c_sweep(opcode, data):
    assert_c_bit_exact(oa.single(opcode, **data.draw(quant(opcode))), sanitize=False)


def test_chain_runs_in_place_and_matches_reference():
    model = oa.conv_chain(np.random.default_rng(11))
    program = build_program(read_tflite(model), CodegenOptions())
    home = program.plan.home
    lut_layers = [e for e in program.emitters if e.op.opcode in oa.LUT_OPS]
    assert len(lut_layers) == 8
    # every table op but the last (which writes the model output) overwrites its input
    for e in lut_layers[:-1]:
        src, dst = e.op.inputs[0], e.op.outputs[0]
        assert home[dst] == home[src] and home[dst][0] == "arena", (e.op.opcode, home[src], home[dst])
    assert program.kernel_sources == ["tp_convolve_s8.c", "tp_lut_s8.c"]
    g = read_tflite(model)
    result = verify_host(model, random_inputs(g.input.shape, 12, 0), sanitize=True)
    assert result.ok and result.matched == 12, str(result.mismatch)


# -- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("s_out", [1.0 / 128, 1.0 / 255, 0.00390626])
def test_logistic_output_scale_must_be_1_over_256(s_out):
    model = oa.single("LOGISTIC", 0.05, 0, s_out, -128)
    assert not tflite_accepts(model)
    with pytest.raises(ModelError, match=r"operator 0 \(LOGISTIC\): output scale .*1/256") as e:
        build_program(read_tflite(model), CodegenOptions())
    assert not isinstance(e.value, UnsupportedOpError)  # an invalid model, not a missing feature


@pytest.mark.parametrize("s_out", [0.5 / 128, 1.0 / 128])
def test_hard_swish_output_scale_not_above_input_scale_over_128_is_refused(s_out):
    model = oa.single("HARD_SWISH", 1.0, 0, s_out, 0)
    assert not tflite_accepts(model)
    with pytest.raises(ModelError, match=r"operator 0 \(HARD_SWISH\): output scale .* input scale / 128"):
        build_program(read_tflite(model), CodegenOptions())


@pytest.mark.parametrize("opcode", ["RELU", "QUANTIZE", "LEAKY_RELU"])
def test_scale_ratio_beyond_int32_shift_is_unsupported(opcode):
    model = oa.single(opcode, 3.0, 0, 1e-9, 0, alpha=0.5)
    with pytest.raises(UnsupportedOpError, match=rf"operator 0 \({opcode}\): scale ratio .* too large"):
        build_program(read_tflite(model), CodegenOptions())


@pytest.mark.parametrize("in_dtype,out_dtype,zps", [("int8", "uint8", (0, 128)), ("uint8", "int8", (128, 0))])
def test_quantize_with_uint8_is_refused(in_dtype, out_dtype, zps):
    model = oa.single("QUANTIZE", 0.1, zps[0], 0.1, zps[1], in_dtype=in_dtype, out_dtype=out_dtype)
    g = read_tflite(model)
    with pytest.raises(UnsupportedOpError, match=rf"operator 0 \(QUANTIZE\): {in_dtype} 't0' -> {out_dtype} 't1': "
                                                 r"only int8 -> int8"):
        make_emitter(g.operators[0], g, CodegenOptions())


def test_quantize_from_float_inside_the_graph_is_refused():
    model = oa.single("QUANTIZE", 0.1, 0, 0.1, 0, in_dtype="float32")
    g = read_tflite(model)
    with pytest.raises(UnsupportedOpError, match=r"float32 -> int8 QUANTIZE is supported only on a model input"):
        make_emitter(g.operators[0], g, CodegenOptions())


def test_per_channel_activation_quantization_is_refused():
    from .tflbuild import ModelSpec, Op, T, build

    spec = ModelSpec()
    i = spec.add(T((1, 2), scale=[0.1, 0.2], zero_point=[0, 0], axis=1))
    o = spec.add(T((1, 2), scale=[0.1], zero_point=[0]))
    spec.ops.append(Op("RELU", [i], [o]))
    spec.inputs, spec.outputs = [i], [o]
    g = read_tflite(build(spec))
    with pytest.raises(ModelError, match=r"operator 0 \(RELU\): input tensor 't0' has per-channel quantization"):
        make_emitter(g.operators[0], g, CodegenOptions())


# -- QEMU ---------------------------------------------------------------------------------

@pytest.mark.qemu
def test_conv_activation_chain_on_qemu_m4(tmp_path):
    """CONV -> LOGISTIC -> QUANTIZE -> HARD_SWISH -> TANH -> LEAKY_RELU -> RELU6 -> RELU_N1_TO_1
    -> RELU through the real firmware on qemu-m4, every output byte compared with BUILTIN_REF."""
    assert_bit_exact_on_board(oa.conv_chain(np.random.default_rng(4)), tmp_path)
