"""Data-movement operators and shape folding, bit-exact with TFLite BUILTIN_REF.

CONCATENATION, PAD/PADV2, TRANSPOSE, STRIDED_SLICE (every mask), SLICE, SPLIT/SPLIT_V,
PACK/UNPACK, GATHER and the EXPAND_DIMS/SQUEEZE views, swept over shapes, axes, masks and
permutations (opmodels_shape.py); the reference interpreter is the oracle, also for the
output shapes our index logic derives. The SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE
sub-graph must fold away at code generation. One QEMU run takes the copy kernels through
the real firmware.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tinyml_prune.codegen import generate, read_tflite
from tinyml_prune.codegen.fold import (ShapeError, apply_copy, apply_slice, slice_copy, strided_slice_spec,
                                       transpose_copy)
from tinyml_prune.codegen.generate import CodegenOptions, build_program
from tinyml_prune.errors import ModelError, UnsupportedOpError
from tinyml_prune.verify import model_io, random_inputs, verify_host
from helpers.boards import assert_bit_exact_on_board

from . import opmodels_shape as om

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")

SWEEP = settings(max_examples=10, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.filter_too_much])
SEED = st.integers(0, 2**16)


def interpreter_shapes(model: bytes) -> list[tuple[int, ...]]:
    from tinyml_prune.kerasenv import tf

    it = tf.lite.Interpreter(model_content=model,
                             experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    return [tuple(int(d) for d in o["shape"]) for o in it.get_output_details()]


def assert_bit_exact(model: bytes, n: int = 6, seed: int = 0, sanitize: bool = False):
    io = model_io(model)
    assert interpreter_shapes(model) == [tuple(t["shape"]) for t in io["outputs"]]
    result = verify_host(model, random_inputs((io["input_bytes"],), n, seed), sanitize=sanitize)
    assert result.ok, str(result.mismatch)
    assert result.matched == n


def layer_ops(model: bytes) -> list[str]:
    return [e.op.opcode for e in build_program(read_tflite(model), CodegenOptions()).emitters]


dims = st.integers(1, 4)


# -- CONCATENATION / PACK / UNPACK ---------------------------------------------------------------

@SWEEP
@given(data=st.data(), rank=st.integers(1, 5), n=st.integers(1, 4), seed=SEED)
def test_concatenation_sweep(data, rank, n, seed):
    base = data.draw(st.lists(dims, min_size=rank, max_size=rank))
    axis = data.draw(st.integers(-rank, rank - 1))
    shapes = []
    for _ in range(n):
        s = list(base)
        s[axis % rank] = data.draw(dims)
        shapes.append(s)
    const = data.draw(st.sampled_from([None] + list(range(1, n))))
    assert_bit_exact(om.concat(np.random.default_rng(seed), shapes, axis, const_input=const))


@SWEEP
@given(shape=st.lists(dims, min_size=1, max_size=4), n=st.integers(1, 4), data=st.data(), seed=SEED)
def test_pack_sweep(shape, n, data, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    assert_bit_exact(om.pack(np.random.default_rng(seed), shape, n, axis))


@SWEEP
@given(shape=st.lists(dims, min_size=1, max_size=5), data=st.data(), seed=SEED)
def test_unpack_sweep(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    assume(len(shape) > 1)  # an unpacked 1-D tensor gives scalars
    assert_bit_exact(om.unpack(np.random.default_rng(seed), shape, axis))


# -- PAD ---------------------------------------------------------------------------------

@SWEEP
@given(data=st.data(), rank=st.integers(1, 5), v2=st.booleans(), same_quant=st.booleans(), int64=st.booleans(),
       seed=SEED)
def test_pad_sweep(data, rank, v2, same_quant, int64, seed):
    shape = data.draw(st.lists(dims, min_size=rank, max_size=rank))
    paddings = data.draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=rank, max_size=rank))
    value = data.draw(st.sampled_from([None, -128, 5, 127])) if v2 else None
    assert_bit_exact(om.pad(np.random.default_rng(seed), shape, paddings, v2=v2, value=value,
                            same_quant=same_quant or value is not None, int64=int64))


# -- TRANSPOSE and views ------------------------------------------------------------------------

@SWEEP
@given(shape=st.lists(dims, min_size=1, max_size=5), data=st.data(), seed=SEED)
def test_transpose_sweep(shape, data, seed):
    perm = data.draw(st.permutations(range(len(shape))))
    assert_bit_exact(om.transpose(np.random.default_rng(seed), shape, list(perm)))


def test_transpose_6d():
    assert_bit_exact(om.transpose(np.random.default_rng(1), [2, 1, 3, 2, 2, 3], [5, 2, 0, 4, 1, 3]))


@SWEEP
@given(shape=st.lists(dims, min_size=1, max_size=4), data=st.data(), seed=SEED)
def test_expand_dims_squeeze_views(shape, data, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    model = om.views(np.random.default_rng(seed), shape, axis)
    assert_bit_exact(model)
    assert layer_ops(model) == ["EXPAND_DIMS", "TRANSPOSE", "SQUEEZE"]


# -- STRIDED_SLICE / SLICE ----------------------------------------------------------------------

@st.composite
def strided_slices(draw):
    rank = draw(st.integers(1, 4))
    shape = draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank))
    ellipsis = draw(st.booleans())
    n_new = draw(st.integers(0, 5 - rank))
    entries = []  # "axis" | "new" | "ellipsis"
    if ellipsis:
        covered = draw(st.integers(1, rank))
        entries = ["axis"] * (rank - covered) + ["new"] * n_new
        entries = draw(st.permutations(entries))
        entries.insert(draw(st.integers(0, len(entries))), "ellipsis")
    else:
        used = draw(st.integers(1, rank))
        entries = draw(st.permutations(["axis"] * used + ["new"] * n_new))
    begin, end, strides = [], [], []
    masks = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_mask=0)
    for i, kind in enumerate(entries):
        begin.append(draw(st.integers(-7, 7)))
        end.append(draw(st.integers(-7, 7)))
        s = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
        strides.append(s)
        if kind == "ellipsis":
            masks["ellipsis_mask"] |= 1 << i
        elif kind == "new":
            masks["new_axis_mask"] |= 1 << i
        else:
            if draw(st.integers(0, 3)) == 0:
                masks["begin_mask"] |= 1 << i
            if draw(st.integers(0, 3)) == 0:
                masks["end_mask"] |= 1 << i
            if s > 0 and draw(st.integers(0, 4)) == 0:
                masks["shrink_mask"] |= 1 << i
    try:
        spec = strided_slice_spec(shape, begin, end, strides, **masks)
    except ShapeError:
        assume(False)
    assume(0 < int(np.prod(spec.out_shape)) and len(spec.out_shape) >= 1)
    return shape, begin, end, strides, masks


@settings(SWEEP, max_examples=30)
@given(p=strided_slices(), seed=SEED)
def test_strided_slice_sweep(p, seed):
    shape, begin, end, strides, masks = p
    assert_bit_exact(om.strided_slice(np.random.default_rng(seed), shape, begin, end, strides, **masks))


@SWEEP
@given(data=st.data(), seed=SEED)
def test_strided_slice_offset(data, seed):
    shape = data.draw(st.lists(st.integers(2, 6), min_size=1, max_size=3))
    begin = [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [data.draw(st.integers(1, d - b)) for d, b in zip(shape, begin)]
    model = om.strided_slice(np.random.default_rng(seed), shape, begin, size, [1] * len(shape), offset=True)
    assert_bit_exact(model)


@SWEEP
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=5), data=st.data(), seed=SEED)
def test_slice_sweep(shape, data, seed):
    begin = [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [data.draw(st.sampled_from([-1, data.draw(st.integers(1, d - b))])) for d, b in zip(shape, begin)]
    assert_bit_exact(om.slice_(np.random.default_rng(seed), shape, begin, size))


@SWEEP
@given(p=strided_slices())
def test_slice_copy_matches_numpy_slice(p):
    """The copy parameters the kernel gets read exactly the elements the index logic names."""
    shape, begin, end, strides, masks = p
    spec = strided_slice_spec(shape, begin, end, strides, **masks)
    x = np.arange(int(np.prod(shape)), dtype=np.int32)
    out = np.full(int(np.prod(spec.out_shape)), -1, np.int32)
    apply_copy(slice_copy(spec), x, out)
    np.testing.assert_array_equal(out, apply_slice(x, spec).reshape(-1))


# -- SPLIT / GATHER -----------------------------------------------------------------------------

@SWEEP
@given(data=st.data(), rank=st.integers(1, 5), v=st.booleans(), seed=SEED)
def test_split_sweep(data, rank, v, seed):
    shape = data.draw(st.lists(dims, min_size=rank, max_size=rank))
    axis = data.draw(st.integers(-rank, rank - 1))
    if v:
        sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
        minus_one = data.draw(st.sampled_from([None] + list(range(len(sizes)))))
    else:
        n = data.draw(st.integers(1, 3))
        sizes, minus_one = [data.draw(st.integers(1, 3))] * n, None
    shape[axis % rank] = sum(sizes)
    assert_bit_exact(om.split(np.random.default_rng(seed), shape, axis, sizes, v=v, minus_one=minus_one))


@SWEEP
@given(data=st.data(), rank=st.integers(1, 4), seed=SEED)
def test_gather_sweep(data, rank, seed):
    shape = data.draw(st.lists(dims, min_size=rank, max_size=rank))
    axis = data.draw(st.integers(-rank, rank - 1))
    a = axis % rank
    batch_dims = data.draw(st.integers(0, a))
    idx_shape = list(shape[:batch_dims]) + data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, shape[a], idx_shape)
    assert_bit_exact(om.gather(rng, shape, axis, indices, batch_dims))


# -- folding -----------------------------------------------------------------------------------

@pytest.mark.parametrize("int64_shape", [False, True])
def test_flatten_subgraph_folds_to_no_code(tmp_path, int64_shape):
    model = om.flatten_subgraph(np.random.default_rng(2), int64_shape=int64_shape)
    result = generate(model, tmp_path / "gen")
    assert [row["op"] for row in result.manifest["layers"]] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert "tp_copy_s8.c" not in result.manifest["kernels"]
    assert_bit_exact(model, sanitize=True)


def test_transpose_copy_matches_numpy():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.int32).reshape(2, 3, 4, 5)
    out = np.zeros(x.size, np.int32)
    apply_copy(transpose_copy(x.shape, [2, 0, 3, 1]), x, out)
    np.testing.assert_array_equal(out, np.transpose(x, [2, 0, 3, 1]).reshape(-1))


def test_constant_data_movement_folds():
    """A model whose data-movement ops read only constants keeps none of them."""
    from tinyml_prune.codegen.passes import run_passes
    from .tflbuild import ModelSpec, Op, T, build, options

    spec = ModelSpec()
    q = ([0.05], [2])
    x = spec.add(T((2, 3), scale=q[0], zero_point=q[1]))
    c = spec.add(T((3, 2), scale=q[0], zero_point=q[1], data=np.arange(6, dtype=np.int8).reshape(3, 2)))
    perm = spec.add(T((2,), "int32", data=np.array([1, 0], np.int32)))
    ct = spec.add(T((2, 3), scale=q[0], zero_point=q[1]))
    spec.ops.append(Op("TRANSPOSE", [c, perm], [ct], options("TransposeOptions"), "TransposeOptions"))
    out = spec.add(T((4, 3), scale=q[0], zero_point=q[1]))
    spec.ops.append(Op("CONCATENATION", [x, ct], [out], options("ConcatenationOptions", axis=0),
                       "ConcatenationOptions"))
    spec.inputs, spec.outputs = [x], [out]
    model = build(spec)
    g = run_passes(read_tflite(model))
    assert [op.opcode for op in g.operators] == ["CONCATENATION"]
    np.testing.assert_array_equal(g.tensors[ct].data, np.arange(6).reshape(3, 2).T)
    assert_bit_exact(model, sanitize=True)


# -- sanitizers and refusals --------------------------------------------------------------------

@pytest.mark.parametrize("single_output", [False, True])
def test_chain_under_sanitizers(single_output):
    model = om.conv_pad_concat_chain(np.random.default_rng(5), single_output=single_output)
    assert_bit_exact(model, n=8, sanitize=True)


def _graph(model):
    return read_tflite(model)


def test_concat_with_different_scales_is_refused():
    model = om.concat(np.random.default_rng(0), [(1, 2), (1, 3)], 1)
    g = _graph(model)
    t = g.tensors[g.inputs[1]]
    g.tensors[t.index] = type(t)(t.index, t.name, t.shape, t.dtype,
                                 type(t.quant)(t.quant.scale * 2, t.quant.zero_point))
    with pytest.raises(ModelError, match="requires them equal"):
        build_program(g, CodegenOptions())


def test_padv2_constant_with_other_quantization_is_refused():
    model = om.pad(np.random.default_rng(0), (2, 3), [[1, 0], [0, 1]], v2=True, value=4)
    g = _graph(model)
    c = next(t for t in g.tensors if t.dtype == "int8" and t.is_constant)
    g.tensors[c.index] = type(c)(c.index, c.name, c.shape, c.dtype,
                                 type(c.quant)(c.quant.scale * 3, c.quant.zero_point), c.data)
    with pytest.raises(ModelError, match="scale and zero point"):
        build_program(g, CodegenOptions())


def test_gather_index_out_of_range_is_refused():
    g = _graph(om.gather(np.random.default_rng(0), (3, 4), 1, [1, 2]))
    idx = next(t for t in g.tensors if t.dtype == "int32")
    idx.data = np.array([1, 4], np.int32)
    with pytest.raises(ModelError, match="index 4 .* out of range"):
        build_program(g, CodegenOptions())


def test_runtime_strided_slice_begin_is_refused():
    g = _graph(om.strided_slice(np.random.default_rng(0), (3, 4), [0, 1], [2, 3], [1, 1]))
    begin = next(t for t in g.tensors if t.dtype == "int32")
    begin.data = None
    with pytest.raises(UnsupportedOpError, match="must be constant"):
        build_program(g, CodegenOptions())


# -- QEMU ---------------------------------------------------------------------------------------

@pytest.mark.qemu
def test_conv_pad_concat_transpose_slice_split_gather_on_qemu_m4(tmp_path):
    """CONV -> PADV2 -> CONV -> CONCATENATION -> TRANSPOSE -> STRIDED_SLICE -> SPLIT (+ GATHER)
    through the real firmware on qemu-m4, every output byte compared with BUILTIN_REF."""
    assert_bit_exact_on_board(om.conv_pad_concat_chain(np.random.default_rng(6), single_output=False), tmp_path)


def test_elementwise_fold_helper_on_int32_shape_math():
    """fold.elementwise (for ADD/SUB/MUL emitters) folds int32/int64 constants only."""
    from tinyml_prune.codegen.fold import elementwise
    from tinyml_prune.codegen.ir import Graph, Operator, Quantization, Tensor

    q = Quantization(np.array([0.1], np.float32), np.array([0], np.int64))
    tensors = [Tensor(0, "a", (2,), "int32", None, np.array([3, -1], np.int32)),
               Tensor(1, "b", (), "int32", None, np.array(4, np.int32)),
               Tensor(2, "c", (2,), "int32", None),
               Tensor(3, "x", (2,), "int8", q, np.array([1, 2], np.int8)),
               Tensor(4, "y", (2,), "int8", q)]
    g = Graph(tensors, [], (), (), "")
    np.testing.assert_array_equal(elementwise(Operator(0, "MUL", (0, 1), (2,)), g, np.multiply)[0], [12, -4])
    assert elementwise(Operator(0, "ADD", (3, 3), (4,)), g, np.add) is None  # int8 data is not shape math
    tensors[1].data = None
    assert elementwise(Operator(0, "ADD", (0, 1), (2,)), g, np.add) is None  # not all constant
