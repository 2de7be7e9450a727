"""The flatbuffer validator: every malformed model is one ModelError naming what is wrong.

Each case is a named mutation of a small valid model (built with tflbuild) or of the KWS
fixture; the message must name the operator / tensor and the offending value.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import fixture_path
from tinyml_prune.codegen import build_program, read_tflite
from tinyml_prune.codegen.fuzz import pack, parse
from tinyml_prune.codegen.generate import CodegenOptions
from tinyml_prune.codegen.validate import InvalidModelError
from tinyml_prune.errors import ModelError, UnsupportedOpError

from .tflbuild import ModelSpec, Op, T, build, options


def small_model(seed: int = 0) -> bytes:
    """conv 3x3 -> depthwise 3x3 SAME -> avg pool 2x2 -> reshape -> FC -> softmax, int8.

    Tensors: 0 input, 1 conv filter, 2 conv bias, 3 conv out, 4 dw filter, 5 dw bias, 6 dw out,
    7 pool out, 8 reshape shape, 9 reshape out, 10 fc filter, 11 fc bias, 12 fc out, 13 softmax out.
    Operators: 0 CONV_2D, 1 DEPTHWISE_CONV_2D, 2 AVERAGE_POOL_2D, 3 RESHAPE, 4 FULLY_CONNECTED, 5 SOFTMAX."""
    rng = np.random.default_rng(seed)
    spec = ModelSpec()
    x = spec.add(T((1, 6, 6, 2), scale=[0.05], zero_point=[-3], name="input"))
    ws = [0.01, 0.012, 0.008, 0.011]
    wf = spec.add(T((4, 3, 3, 2), scale=ws, zero_point=[0] * 4, axis=0,
                    data=rng.integers(-127, 128, (4, 3, 3, 2)).astype(np.int8), name="conv/filter"))
    wb = spec.add(T((4,), "int32", scale=[0.05 * s for s in ws], zero_point=[0] * 4,
                    data=rng.integers(-500, 500, 4).astype(np.int32), name="conv/bias"))
    c1 = spec.add(T((1, 4, 4, 4), scale=[0.2], zero_point=[5], name="conv/out"))
    spec.ops.append(Op("CONV_2D", [x, wf, wb], [c1], options("Conv2DOptions", padding=1, strideH=1, strideW=1,
                                                                   dilationHFactor=1, dilationWFactor=1,
                                                                   fusedActivationFunction=1), "Conv2DOptions"))
    ds = [0.02, 0.03, 0.01, 0.02]
    df = spec.add(T((1, 3, 3, 4), scale=ds, zero_point=[0] * 4, axis=3,
                    data=rng.integers(-127, 128, (1, 3, 3, 4)).astype(np.int8), name="dw/filter"))
    db = spec.add(T((4,), "int32", scale=[0.2 * s for s in ds], zero_point=[0] * 4,
                    data=rng.integers(-200, 200, 4).astype(np.int32), name="dw/bias"))
    c2 = spec.add(T((1, 4, 4, 4), scale=[0.3], zero_point=[-2], name="dw/out"))
    spec.ops.append(Op("DEPTHWISE_CONV_2D", [c1, df, db], [c2],
                       options("DepthwiseConv2DOptions", padding=0, strideH=1, strideW=1, depthMultiplier=1,
                               dilationHFactor=1, dilationWFactor=1), "DepthwiseConv2DOptions"))
    p = spec.add(T((1, 2, 2, 4), scale=[0.3], zero_point=[-2], name="pool/out"))
    spec.ops.append(Op("AVERAGE_POOL_2D", [c2], [p], options("Pool2DOptions", padding=1, strideH=2, strideW=2,
                                                                filterHeight=2, filterWidth=2), "Pool2DOptions"))
    shp = spec.add(T((2,), "int32", data=np.array([1, 16], np.int32), name="reshape/shape"))
    r = spec.add(T((1, 16), scale=[0.3], zero_point=[-2], name="reshape/out"))
    spec.ops.append(Op("RESHAPE", [p, shp], [r], options("ReshapeOptions", newShape=[1, 16]), "ReshapeOptions"))
    ff = spec.add(T((3, 16), scale=[0.01], zero_point=[0], data=rng.integers(-127, 128, (3, 16)).astype(np.int8),
                    name="fc/filter"))
    fb = spec.add(T((3,), "int32", scale=[0.003], zero_point=[0], data=rng.integers(-300, 300, 3).astype(np.int32),
                    name="fc/bias"))
    f = spec.add(T((1, 3), scale=[0.1], zero_point=[1], name="fc/out"))
    spec.ops.append(Op("FULLY_CONNECTED", [r, ff, fb], [f], options("FullyConnectedOptions"),
                       "FullyConnectedOptions"))
    sm = spec.add(T((1, 3), scale=[1 / 256], zero_point=[-128], name="softmax/out"))
    spec.ops.append(Op("SOFTMAX", [f], [sm], options("SoftmaxOptions", beta=1.0), "SoftmaxOptions"))
    spec.inputs, spec.outputs = [x], [sm]
    return build(spec)


SMALL = small_model()


def mutated(fn, base: bytes = SMALL) -> bytes:
    m = parse(base)
    fn(m)
    return pack(m)


def sg(m):
    return m.subgraphs[0]


def op(m, k):
    return sg(m).operators[k]


def tensor(m, i):
    return sg(m).tensors[i]


def set_field(obj, name, value):
    setattr(obj, name, np.array(value, np.int32) if isinstance(value, list) else value)


def rejects(data: bytes, *fragments: str, kind: str | None = None):
    with pytest.raises(ModelError) as info:
        read_tflite(data, "m.tflite")
    msg = str(info.value)
    for f in fragments:
        assert f in msg, msg
    assert "\n" not in msg
    if kind is not None:
        assert isinstance(info.value, InvalidModelError) and info.value.kind == kind, (info.value, msg)
    return msg


def _swap_options(k, name):
    def fn(m):
        from tinyml_prune.codegen.validate import _schema

        s = _schema()
        op(m, k).builtinOptionsType = getattr(s.BuiltinOptions, name)
        op(m, k).builtinOptions = getattr(s, name + "T")()
    return fn


def _remove_options(k):
    def fn(m):
        op(m, k).builtinOptionsType, op(m, k).builtinOptions = 0, None
    return fn


def test_small_model_is_valid_and_generates():
    program = build_program(read_tflite(SMALL), CodegenOptions())
    assert [e.op.opcode for e in program.emitters] == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE",
                                                       "FULLY_CONNECTED", "SOFTMAX"]


# -- builtin options ------------------------------------------------------------------------------
@pytest.mark.parametrize("k, opcode, name", [
    (0, "CONV_2D", "Conv2DOptions"), (1, "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions"),
    (2, "AVERAGE_POOL_2D", "Pool2DOptions"), (5, "SOFTMAX", "SoftmaxOptions"),
])
def test_missing_options_are_refused_when_their_defaults_are_invalid(k, opcode, name):
    rejects(mutated(_remove_options(k)), f"operator {k} ({opcode})", f"has no {name}", kind="options-value")


def test_missing_fully_connected_options_mean_defaults():
    g = read_tflite(mutated(_remove_options(4)))
    assert g.operators[4].options.fusedActivationFunction == 0
    build_program(g, CodegenOptions())


@pytest.mark.parametrize("k, opcode, wrong, right", [
    (0, "CONV_2D", "Pool2DOptions", "Conv2DOptions"),
    (2, "AVERAGE_POOL_2D", "Conv2DOptions", "Pool2DOptions"),
    (4, "FULLY_CONNECTED", "Conv2DOptions", "FullyConnectedOptions"),
    (5, "SOFTMAX", "AddOptions", "SoftmaxOptions"),
])
def test_options_of_another_operators_type(k, opcode, wrong, right):
    rejects(mutated(_swap_options(k, wrong)), f"operator {k} ({opcode}) has builtin options {wrong}",
            f"takes {right}", kind="options-type")


def test_options_type_without_table():
    def fn(m):
        op(m, 0).builtinOptions = None
    rejects(mutated(fn), "operator 0 (CONV_2D) declares builtin options Conv2DOptions but has none",
            kind="options-missing")


def test_unknown_options_type():
    def fn(m):
        op(m, 0).builtinOptionsType = 200
        op(m, 0).builtinOptions = None
    # The parser cannot build a table for an unknown union member; the type alone is refused.
    rejects(mutated(fn), "operator 0 (CONV_2D)", "unknown type 200", kind="options-type")


@pytest.mark.parametrize("k, field, value, requirement", [
    (0, "strideH", 0, "must be >= 1"),
    (0, "dilationWFactor", -1, "must be >= 1"),
    (2, "filterHeight", 0, "must be >= 1"),
    (2, "strideW", 0, "must be >= 1"),
    (0, "padding", 7, "padding must be one of"),
    (0, "fusedActivationFunction", 9, "fused activation must be one of"),
    (5, "beta", float("nan"), "must be finite"),
    (5, "beta", 0.0, "beta must be > 0"),
    (5, "beta", -1.0, "beta must be > 0"),
])
def test_attribute_out_of_range(k, field, value, requirement):
    def fn(m):
        setattr(op(m, k).builtinOptions, field, value)
    msg = rejects(mutated(fn), f"operator {k} (", f".{field} is ", requirement, kind="options-value")
    assert repr(value) in msg


# -- indices --------------------------------------------------------------------------------------
def test_graph_output_minus_one_does_not_wrap():
    rejects(mutated(lambda m: set_field(sg(m), "outputs", [-1])), "model output 0 refers to tensor -1",
            kind="io-index")


def test_graph_input_past_the_end():
    rejects(mutated(lambda m: set_field(sg(m), "inputs", [14])), "model input 0 refers to tensor 14",
            "has 14 tensors", kind="io-index")


def test_graph_output_past_the_end():
    rejects(mutated(lambda m: set_field(sg(m), "outputs", [99])), "model output 0 refers to tensor 99",
            kind="io-index")


def test_conv_bias_minus_three_is_not_dropped():
    rejects(mutated(lambda m: set_field(op(m, 0), "inputs", [0, 1, -3])),
            "operator 0 (CONV_2D) input 2 refers to tensor -3", "only -1", kind="tensor-index")


def test_absent_conv_bias_is_fine():
    g = read_tflite(mutated(lambda m: set_field(op(m, 0), "inputs", [0, 1, -1])))
    build_program(g, CodegenOptions())


def test_operator_output_minus_two():
    rejects(mutated(lambda m: set_field(op(m, 2), "outputs", [-2])),
            "operator 2 (AVERAGE_POOL_2D) output 0 refers to tensor -2", kind="tensor-index")


def test_operator_output_minus_one():
    rejects(mutated(lambda m: set_field(op(m, 2), "outputs", [-1])), "output 0 refers to tensor -1",
            kind="tensor-index")


def test_operator_input_past_the_end():
    rejects(mutated(lambda m: set_field(op(m, 4), "inputs", [9, 10, 400])),
            "operator 4 (FULLY_CONNECTED) input 2 refers to tensor 400", kind="tensor-index")


def test_opcode_index_out_of_range():
    def fn(m):
        op(m, 3).opcodeIndex = 17
    rejects(mutated(fn), "operator 3 refers to opcode 17", kind="opcode-index")


def test_buffer_index_out_of_range():
    def fn(m):
        tensor(m, 1).buffer = 1000
    rejects(mutated(fn), "tensor 1 'conv/filter' refers to buffer 1000", kind="buffer-index")


# -- data flow ------------------------------------------------------------------------------------
def test_graph_input_set_to_an_intermediate_tensor():
    rejects(mutated(lambda m: set_field(sg(m), "inputs", [6])),
            "model input 0 (tensor 6 'dw/out') is written by operator 1 (DEPTHWISE_CONV_2D)", kind="graph-input")


def test_operator_output_rewired_onto_another_operators_output():
    rejects(mutated(lambda m: set_field(op(m, 2), "outputs", [3])),
            "operator 2 (AVERAGE_POOL_2D) writes tensor 3 'conv/out', which operator 0 (CONV_2D) writes too",
            kind="graph-writer")


def test_operator_output_listed_twice():
    rejects(mutated(lambda m: set_field(op(m, 2), "outputs", [7, 7])),
            "operator 2 (AVERAGE_POOL_2D) lists tensor 7 'pool/out' twice among its outputs", kind="graph-writer")


def test_cli_reports_a_malformed_model_in_one_line(tmp_path, capsys):
    from tinyml_prune.cli import main

    path = tmp_path / "bad.tflite"
    path.write_bytes(mutated(lambda m: set_field(op(m, 0), "inputs", [0, 1, -3])))
    code = main(["codegen", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert "operator 0 (CONV_2D) input 2 refers to tensor -3" in err
    assert not (tmp_path / "out" / "model.c").exists()


def test_operator_output_rewired_onto_a_dangling_tensor():
    # The pool now writes the reshape's output: the reshape's input is never written.
    rejects(mutated(lambda m: set_field(op(m, 2), "outputs", [13])), kind=None)


def test_cycle_reads_a_later_output():
    rejects(mutated(lambda m: set_field(op(m, 1), "inputs", [7, 4, 5])),
            "operator 1 (DEPTHWISE_CONV_2D) input 0 reads tensor 7 'pool/out' before it is written",
            "operator 2 (AVERAGE_POOL_2D)", kind="graph-order")


def test_input_never_written():
    def fn(m):
        sg(m).operators.pop(1)  # the depthwise output is read but no longer written
    rejects(mutated(fn), "operator 1 (AVERAGE_POOL_2D) input 0 reads tensor 6 'dw/out', which is neither",
            kind="graph-source")


def test_operator_writes_a_constant():
    rejects(mutated(lambda m: set_field(op(m, 0), "outputs", [8])),
            "writes tensor 8 'reshape/shape', which is a constant", kind="graph-writer")


def test_output_never_written():
    def fn(m):
        sg(m).operators.pop()
    rejects(mutated(fn), "model output 0 (tensor 13 'softmax/out') is written by no operator", kind="graph-output")


# -- tensors and buffers --------------------------------------------------------------------------
def test_bias_buffer_one_byte_short():
    def fn(m):
        b = tensor(m, 11).buffer
        m.buffers[b].data = np.asarray(m.buffers[b].data)[:-1]
    rejects(mutated(fn), "tensor 11 'fc/bias' has 11 bytes", "needs 12", kind="buffer-length")


def test_filter_buffer_one_byte_long():
    def fn(m):
        b = tensor(m, 1).buffer
        m.buffers[b].data = np.concatenate([np.asarray(m.buffers[b].data), [0]]).astype(np.uint8)
    rejects(mutated(fn), "tensor 1 'conv/filter' has 73 bytes", "needs 72", kind="buffer-length")


def test_negative_dimension():
    rejects(mutated(lambda m: set_field(tensor(m, 3), "shape", [1, 4, -4, 4])),
            "tensor 3 'conv/out' has negative dimension", kind="tensor-shape")


def test_empty_activation():
    rejects(mutated(lambda m: set_field(tensor(m, 3), "shape", [1, 4, 0, 4])),
            "tensor 3 'conv/out' has shape [1, 4, 0, 4] with no elements", kind="tensor-shape")


def test_huge_activation():
    rejects(mutated(lambda m: set_field(tensor(m, 3), "shape", [1, 2 ** 31 - 1, 4, 4])),
            "tensor 3 'conv/out'", "larger than 2 GiB", kind="tensor-shape")


def test_unknown_tensor_type():
    def fn(m):
        tensor(m, 3).type = 99
    rejects(mutated(fn), "tensor 3 'conv/out' has unknown type 99", kind="tensor-type")


# -- quantization ---------------------------------------------------------------------------------
@pytest.mark.parametrize("zp", [200, -1000, 2 ** 31, 2 ** 62, -129, 128])
def test_input_zero_point_out_of_int8_range(zp):
    def fn(m):
        tensor(m, 0).quantization.zeroPoint = np.array([zp], np.int64)
    rejects(mutated(fn), f"tensor 0 'input' (int8) has zero point {zp}", "inside [-128, 127]",
            kind="quant-zero-point")


def test_bias_zero_point_must_be_zero():
    def fn(m):
        tensor(m, 2).quantization.zeroPoint = np.array([0, 0, 3, 0], np.int64)
    rejects(mutated(fn), "tensor 2 'conv/bias' (int32) has zero point 3; it must be 0", kind="quant-zero-point")


@pytest.mark.parametrize("i, name, value", [
    (0, "input", 0.0), (13, "softmax/out", 0.0), (12, "fc/out", float("nan")), (12, "fc/out", -0.1),
    (12, "fc/out", float("inf")),
])
def test_scale_not_finite_positive(i, name, value):
    def fn(m):
        tensor(m, i).quantization.scale = np.array([value], np.float32)
    msg = rejects(mutated(fn), f"tensor {i} '{name}' has quantization scale", "finite and > 0", kind="quant-scale")
    assert repr(float(np.float32(value))) in msg


def test_per_channel_scale_zero():
    def fn(m):
        tensor(m, 1).quantization.scale = np.array([0.01, 0.0, 0.01, 0.01], np.float32)
    rejects(mutated(fn), "tensor 1 'conv/filter' has quantization scale 0.0 (channel 1)", kind="quant-scale")


def test_zero_point_vector_shorter_than_scales():
    def fn(m):
        tensor(m, 1).quantization.zeroPoint = np.array([0, 0, 0], np.int64)
    rejects(mutated(fn), "tensor 1 'conv/filter' has 4 quantization scales but 3 zero points", kind="quant-length")


def test_fc_zero_point_vector_missing():
    def fn(m):
        tensor(m, 10).quantization.zeroPoint = np.array([], np.int64)
    rejects(mutated(fn), "tensor 10 'fc/filter' has 1 quantization scales but 0 zero points", kind="quant-length")


def test_per_channel_scales_do_not_match_dimension():
    def fn(m):
        q = tensor(m, 1).quantization
        q.scale, q.zeroPoint = np.array([0.01] * 3, np.float32), np.zeros(3, np.int64)
    rejects(mutated(fn), "tensor 1 'conv/filter' has 3 quantization scales along dimension 0, which has 4 entries",
            kind="quant-length")


@pytest.mark.parametrize("axis", [-1, 4, 9])
def test_quantized_dimension_out_of_range(axis):
    def fn(m):
        tensor(m, 1).quantization.quantizedDimension = axis
    rejects(mutated(fn), f"tensor 1 'conv/filter' has quantized dimension {axis}", kind="quant-axis")


def test_one_dimensional_tensor_with_out_of_range_dimension_is_accepted():
    # Older converters (person detection) wrote quantized_dimension 3 on per-channel 1-D biases.
    def fn(m):
        tensor(m, 5).quantization.quantizedDimension = 3
    g = read_tflite(mutated(fn))
    assert g.tensors[5].quant.axis == 0
    build_program(g, CodegenOptions())


def test_one_dimensional_ambiguous_dimension_is_refused():
    def fn(m):
        q = tensor(m, 5).quantization
        q.quantizedDimension = 3
        q.scale, q.zeroPoint = np.array([0.01] * 2, np.float32), np.zeros(2, np.int64)
    rejects(mutated(fn), "tensor 5 'dw/bias' has quantized dimension 3", kind="quant-axis")


# -- generic: operators the validator does not know ----------------------------------------------
def test_unknown_operator_passes_validation_and_is_refused_by_the_emitter_lookup():
    spec = ModelSpec()
    a = spec.add(T((1, 4), scale=[0.1], zero_point=[0]))
    b = spec.add(T((1, 4), scale=[0.1], zero_point=[0]))
    spec.ops.append(Op("CUMSUM", [a, spec.add(T((), "int32", data=np.array(1, np.int32)))], [b],
                       options("CumsumOptions", exclusive=True), "CumsumOptions"))
    spec.inputs, spec.outputs = [a], [b]
    g = read_tflite(build(spec))
    with pytest.raises(UnsupportedOpError, match=r"operator 0 is CUMSUM, which the code generator does not support"):
        build_program(g, CodegenOptions())


def test_kws_fixture_is_valid():
    g = read_tflite(fixture_path("kws_ref_model.tflite").read_bytes())
    assert len(g.operators) == 13


def test_kws_fixture_output_scale_nan():
    data = fixture_path("kws_ref_model.tflite").read_bytes()

    def fn(m):
        out = int(sg(m).outputs[0])
        tensor(m, out).quantization.scale = np.array([np.nan], np.float32)
    rejects(mutated(fn, data), "has quantization scale nan", kind="quant-scale")


def test_kws_fixture_softmax_beta_nan():
    data = fixture_path("kws_ref_model.tflite").read_bytes()

    def fn(m):
        for o in sg(m).operators:
            if getattr(o.builtinOptions, "beta", None) is not None:
                o.builtinOptions.beta = float("nan")
    rejects(mutated(fn, data), "(SOFTMAX): SoftmaxOptions.beta is nan", kind="options-value")
