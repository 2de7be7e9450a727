"""Elementwise binary operators with broadcasting (ADD, SUB, MUL, MAXIMUM, MINIMUM,
SQUARED_DIFFERENCE, PRELU), bit-exact with TFLite BUILTIN_REF: every broadcast shape pair up
to 6-D, both operand orders, a constant on either side, different scales and zero points per
operand, fused activations."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyml_prune.codegen import generate, read_tflite
from tinyml_prune.codegen.generate import CodegenOptions, build_program
from tinyml_prune.codegen.ops import make_emitter
from tinyml_prune.codegen.ops.elementwise import broadcast_plan
from tinyml_prune.errors import ModelError, UnsupportedOpError
from tinyml_prune.verify import model_io, random_inputs, verify_host
from helpers.boards import assert_bit_exact_on_board

from . import opmodels_elementwise as om
from .tflbuild import ModelSpec, Op, T, build, options

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")

SWEEP = settings(max_examples=10, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ACT = st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
BINARY = ["ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"]


def assert_bit_exact(model: bytes, n: int = 12, seed: int = 0, sanitize: bool = False):
    io = model_io(model)
    result = verify_host(model, random_inputs((io["input_bytes"],), n, seed), sanitize=sanitize)
    assert result.ok, str(result.mismatch)
    assert result.matched == n


@st.composite
def broadcast_pair(draw, max_rank: int = 4):
    """Two shapes that broadcast: an output shape, then each operand keeps a suffix of its
    dimensions with some extents replaced by 1 (so scalars, per-channel vectors, rows,
    columns and outer-product pairs all appear)."""
    rank = draw(st.integers(0, max_rank))
    out = [draw(st.integers(1, 5)) for _ in range(rank)]

    def operand():
        keep = draw(st.integers(0, rank))
        return tuple(1 if draw(st.booleans()) else d for d in out[rank - keep:])

    return operand(), operand()


@SWEEP
@given(opcode=st.sampled_from(BINARY), shapes=broadcast_pair(), const_side=st.sampled_from([None, 1, 2]), act=ACT,
       seed=st.integers(0, 2**16))
def test_binary_broadcast_sweep(opcode, shapes, const_side, act, seed):
    rng = np.random.default_rng(seed)
    model = om.binary(rng, opcode, shapes[0], shapes[1], const_side, act if opcode in om.FUSED else "NONE")
    assert_bit_exact(model)


@pytest.mark.parametrize("opcode", BINARY)
@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(shapes=broadcast_pair(), const_side=st.sampled_from([None, 1, 2]), act=ACT, seed=st.integers(0, 2**16))
def test_each_op_both_operand_orders(opcode, shapes, const_side, act, seed):
    """The same operands with input 1 and input 2 swapped (SUB and SQUARED_DIFFERENCE are not
    symmetric in their rescaling, MAXIMUM/MINIMUM break ties by order)."""
    act = act if opcode in om.FUSED else "NONE"
    for a, b, side in ((shapes[0], shapes[1], const_side), (shapes[1], shapes[0], const_side and 3 - const_side)):
        assert_bit_exact(om.binary(np.random.default_rng(seed), opcode, a, b, side, act), n=6)


@SWEEP
@given(opcode=st.sampled_from(["ADD", "MUL", "MAXIMUM", "SQUARED_DIFFERENCE"]), shapes=broadcast_pair(max_rank=6),
       seed=st.integers(0, 2**16))
def test_five_and_six_dimensional_broadcasting(opcode, shapes, seed):
    assert_bit_exact(om.binary(np.random.default_rng(seed), opcode, shapes[0], shapes[1]), n=6)


@st.composite
def prelu_shapes(draw):
    rank = draw(st.integers(1, 4))
    x = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    keep = draw(st.integers(0, rank))
    alpha = tuple(1 if draw(st.booleans()) else d for d in x[rank - keep:])
    return x, alpha


@SWEEP
@given(shapes=prelu_shapes(), alpha_const=st.booleans(), seed=st.integers(0, 2**16))
def test_prelu_sweep(shapes, alpha_const, seed):
    x, alpha = shapes
    assert_bit_exact(om.binary(np.random.default_rng(seed), "PRELU", x, alpha, 2 if alpha_const else None))


@pytest.mark.parametrize("opcode", ["ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "PRELU"])
def test_equal_shapes_flat_path_under_sanitizers(opcode):
    model = om.binary(np.random.default_rng(11), opcode, (1, 5, 3, 7), (1, 5, 3, 7), None)
    assert broadcast_plan((1, 5, 3, 7), (1, 5, 3, 7), (1, 5, 3, 7)).flat
    assert_bit_exact(model, n=16, sanitize=True)


@pytest.mark.parametrize("opcode", ["MAXIMUM", "MINIMUM", "ADD", "MUL"])
def test_same_quantization_everywhere(opcode):
    model = om.binary(np.random.default_rng(5), opcode, (2, 3, 4), (3, 1), 1, same_quant=True)
    assert_bit_exact(model)


@pytest.mark.parametrize("opcode", ["ADD", "SUB", "MUL", "SQUARED_DIFFERENCE", "MAXIMUM"])
def test_same_tensor_as_both_operands(opcode):
    assert_bit_exact(om.same_tensor_twice(np.random.default_rng(2), opcode, (1, 4, 4, 3)), sanitize=True)


def test_mul_and_prelu_multipliers_above_one():
    """Output scales finer than the product of the input scales: the requantization shifts
    left (MUL's single multiplier, PRELU's two)."""
    spec = ModelSpec()
    x = spec.add(T((1, 3, 4), scale=[0.05], zero_point=[3], name="x"))
    y = spec.add(T((4,), scale=[0.08], zero_point=[-2], name="y"))
    m = spec.add(T((1, 3, 4), scale=[0.0011], zero_point=[1], name="m"))
    spec.ops.append(Op("MUL", [x, y], [m], options("MulOptions", fusedActivationFunction=0), "MulOptions"))
    alpha = spec.add(T((1, 1, 4), scale=[3.0], zero_point=[0], name="alpha",
                       data=np.array([[[5, -7, 100, -128]]], np.int8)))
    out = spec.add(T((1, 3, 4), scale=[0.0007], zero_point=[-9], name="out"))
    spec.ops.append(Op("PRELU", [m, alpha], [out]))
    spec.inputs, spec.outputs = [x, y], [out]
    model = build(spec)
    e = build_program(read_tflite(model), CodegenOptions()).emitters
    assert e[0].params["output_shift"] > 0 and e[1].params["positive_shift"] > 0
    assert e[1].params["negative_shift"] > 0
    assert_bit_exact(model, n=20, sanitize=True)


def test_broadcast_chain_in_the_arena_under_sanitizers():
    """MUL by a per-channel constant, ADD of a per-row constant (constant first, RELU), SUB
    from the input: intermediates in the arena, outputs overwriting their inputs."""
    assert_bit_exact(om.gated_residual(np.random.default_rng(9)), n=20, sanitize=True)


def test_slim_shrinks_a_broadcast_constant_operand():
    model = om.conv_add_channel_constant_conv(np.random.default_rng(0))
    opts = CodegenOptions(format="slim")
    prog = build_program(read_tflite(model), opts)
    add = next(e for e in prog.emitters if e.op.opcode == "ADD")
    assert add.plan.dims == (16, 2) and add.plan.stride2 == (0, 1)
    io = model_io(model)
    result = verify_host(model, random_inputs((io["input_bytes"],), 10, 0), opts, sanitize=True)
    assert result.ok, str(result.mismatch)


# -- the broadcast plan ---------------------------------------------------------------------

def test_broadcast_plan_merges_and_drops_dimensions():
    p = broadcast_plan((1, 4, 5, 6), (6,), (1, 4, 5, 6))
    assert (p.dims, p.stride1, p.stride2) == ((20, 6), (6, 1), (0, 1))
    p = broadcast_plan((1, 4, 1, 1), (1, 4, 5, 6), (1, 4, 5, 6))  # per-row constant
    assert (p.dims, p.stride1, p.stride2) == ((4, 30), (1, 0), (30, 1))
    p = broadcast_plan((4, 1), (1, 6), (4, 6))  # outer product
    assert (p.dims, p.stride1, p.stride2) == ((4, 6), (1, 0), (0, 1))
    p = broadcast_plan((), (3, 2), (3, 2))  # scalar
    assert (p.dims, p.stride1, p.stride2) == ((6,), (0,), (1,))
    p = broadcast_plan((1, 1), (1,), (1, 1))
    assert (p.dims, p.stride1, p.stride2) == ((1,), (0,), (0,))


def test_generated_code_declares_strides_and_constant_as_weights(tmp_path):
    model = om.binary(np.random.default_rng(1), "MUL", (1, 4, 5, 6), (6,), 2)
    generate(model, tmp_path / "gen")
    c = (tmp_path / "gen" / "model.c").read_text()
    assert "{ 20, 6 }, { 6, 1 }, { 0, 1 }" in c
    prog = build_program(read_tflite(model), CodegenOptions())
    assert prog.weight_bytes == 6 and [a.kind for a in prog.emitters[0].arrays] == ["weights"]


# -- refusals -------------------------------------------------------------------------------

def _one_op(opcode, shape1, shape2, out_shape, dtype="int8", per_channel=False, consts=(False, False),
            out_scale=0.05, opts=None, opts_type=None):
    spec = ModelSpec()
    ins = []
    for k, shape in enumerate((shape1, shape2)):
        scale = [0.05, 0.06] if per_channel and k == 1 else [0.05]
        data = np.zeros(shape, dtype) if consts[k] else None
        ins.append(spec.add(T(shape, dtype, scale=scale, zero_point=[0] * len(scale), data=data, axis=0)))
    out = spec.add(T(out_shape, dtype, scale=[out_scale], zero_point=[0]))
    spec.ops.append(Op(opcode, ins, [out], opts, opts_type))
    spec.inputs = [i for k, i in enumerate(ins) if not consts[k]] or [ins[0]]
    spec.outputs = [out]
    return read_tflite(build(spec))


def _emit(graph):
    return make_emitter(graph.operators[0], graph, CodegenOptions())


def test_refusals_name_the_problem():
    with pytest.raises(ModelError, match=r"do not broadcast \(extents 3 and 4\)"):
        _emit(_one_op("ADD", (2, 3), (2, 4), (2, 4)))
    with pytest.raises(ModelError, match=r"output shape \[2, 5\] is not the broadcast"):
        _emit(_one_op("MUL", (2, 1), (1, 3), (2, 5)))
    with pytest.raises(UnsupportedOpError, match="operator 0 \\(SUB\\).*'t1'.*per channel"):
        _emit(_one_op("SUB", (2, 2), (2, 2), (2, 2), per_channel=True))
    with pytest.raises(UnsupportedOpError, match="operator 0 \\(ADD\\).*only int8"):
        _emit(_one_op("ADD", (2, 2), (2, 2), (2, 2), dtype="int32"))
    with pytest.raises(UnsupportedOpError, match="rank above 6"):
        _emit(_one_op("MAXIMUM", (1,) * 7, (1,) * 7, (1,) * 7))
    with pytest.raises(ModelError, match="operator 0 \\(ADD\\).*left shift"):
        _emit(_one_op("ADD", (2, 2), (2, 2), (2, 2), out_scale=1e-9))
    with pytest.raises(ModelError, match="operator 0 \\(SQUARED_DIFFERENCE\\).*not below one"):
        _emit(_one_op("SQUARED_DIFFERENCE", (2, 2), (2, 2), (2, 2), out_scale=1e-9))
    with pytest.raises(ModelError, match="keep the input's shape"):
        _emit(_one_op("PRELU", (1, 3), (2, 3), (2, 3)))
    with pytest.raises(UnsupportedOpError, match="both inputs .* are constant"):
        _emit(_one_op("ADD", (2, 2), (2,), (2, 2), consts=(True, True)))
    with pytest.raises(UnsupportedOpError, match="fused activation TANH"):
        _emit(_one_op("MUL", (2, 2), (2, 2), (2, 2), opts=options("MulOptions", fusedActivationFunction=4),
                              opts_type="MulOptions"))


# -- QEMU -----------------------------------------------------------------------------------

@pytest.mark.qemu
def test_broadcasting_mul_add_on_qemu_m4(tmp_path):
    """MUL by a per-channel constant, ADD of a per-row constant, SUB: through the real
    firmware on qemu-m4, every output byte compared with BUILTIN_REF."""
    assert_bit_exact_on_board(om.gated_residual(np.random.default_rng(4)), tmp_path)
