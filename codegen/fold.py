"""Shape and index arithmetic shared by the data-movement emitters and constant folding.

Everything here is plain numpy on static shapes: the per-axis start/stop/step of a
STRIDED_SLICE (TensorFlow Lite's clamping rules), the strided copies that CONCATENATION,
PAD, TRANSPOSE, SLICE, SPLIT and PACK/UNPACK reduce to, and the numpy evaluation of an
operator whose inputs are all known at code generation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ir import Graph, Operator

COPY_MAX_DIMS = 6  # TP_COPY_MAX_DIMS in tp_nn_shape.h


class ShapeError(ValueError):
    """An operator's static parameters do not describe a valid result (the message says why)."""


# -- constants -----------------------------------------------------------------------------
def const_input(op: Operator, graph: Graph, i: int) -> np.ndarray | None:
    """Input ``i``'s values when it is a constant tensor, else None (also when absent)."""
    if i >= len(op.inputs) or op.inputs[i] < 0:
        return None
    t = graph.tensors[op.inputs[i]]
    return t.data if t.is_constant else None


def all_const(op: Operator, graph: Graph) -> list[np.ndarray] | None:
    """Every present input's values, or None when one of them is not constant."""
    values = []
    for i in op.inputs:
        if i < 0:
            continue
        t = graph.tensors[i]
        if not t.is_constant:
            return None
        values.append(t.data)
    return values


def elementwise(op: Operator, graph: Graph, fn, dtypes=("int32", "int64")) -> list[np.ndarray] | None:
    """Fold a binary integer operator (ADD, SUB, MUL on shape arithmetic) when both inputs are
    constant integer tensors of ``dtypes``; numpy broadcasting as TFLite's."""
    values = all_const(op, graph)
    out = graph.tensors[op.outputs[0]]
    if values is None or len(values) != 2 or out.dtype not in dtypes:
        return None
    if any(graph.tensors[i].dtype not in dtypes for i in op.inputs if i >= 0):
        return None
    a, b = (np.asarray(v, np.int64) for v in values)
    return [fn(a, b).astype(out.dtype)]


def axis_of(axis: int, rank: int, what: str = "axis") -> int:
    """``axis`` in [0, rank), negative counted from the end."""
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} is out of range for a {rank}-D tensor")
    return axis + rank if axis < 0 else axis


# -- STRIDED_SLICE -------------------------------------------------------------------------
@dataclass(frozen=True)
class SliceSpec:
    """A strided slice over the input with new axes already inserted (``shape``).

    Per axis: first index ``start``, ``step`` and ``count`` elements; ``keep[i]`` is False for
    the axes a shrink mask removes from the output."""

    shape: tuple[int, ...]
    start: tuple[int, ...]
    step: tuple[int, ...]
    count: tuple[int, ...]
    keep: tuple[bool, ...]
    new_axis: tuple[bool, ...]  # axes that are not in the input

    @property
    def out_shape(self) -> tuple[int, ...]:
        return tuple(c for c, k in zip(self.count, self.keep) if k)


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def strided_slice_spec(in_shape, begin, end, strides, begin_mask=0, end_mask=0, ellipsis_mask=0,
                       new_axis_mask=0, shrink_mask=0, offset=False) -> SliceSpec:
    """TensorFlow Lite's STRIDED_SLICE index logic, in Python.

    The sparse spec (``len(begin)`` entries, with ellipsis and new axes) is expanded to one
    entry per axis of the input with the new axes inserted; then per axis: negative indices
    count from the end, begin/end are clamped to [0, size] (step > 0) or [-1, size - 1]
    (step < 0), masks take the whole range, a shrunk axis takes one element at begin."""
    in_shape = tuple(int(d) for d in in_shape)
    begin, end, strides = (np.asarray(v, np.int64).reshape(-1) for v in (begin, end, strides))
    n = len(begin)
    if len(end) != n or len(strides) != n:
        raise ShapeError(f"begin, end and strides have {len(begin)}, {len(end)} and {len(strides)} entries")
    if sum(_bit(ellipsis_mask, i) for i in range(n)) > 1:
        raise ShapeError("more than one ellipsis in the slice")
    entries = _dense_entries(n, len(in_shape), ellipsis_mask, new_axis_mask)
    shape, start, step, count, keep, new = [], [], [], [], [], []
    src = 0
    for kind, i in entries:
        if kind == "new":
            shape.append(1), start.append(0), step.append(1), count.append(1), keep.append(True), new.append(True)
            continue
        size = in_shape[src]
        src += 1
        shape.append(size)
        new.append(False)
        if kind == "full":
            axis = (0, 1, size, True)
        else:
            axis = _slice_axis(size, len(shape) - 1, int(begin[i]), int(end[i]), int(strides[i]), i,
                               begin_mask, end_mask, shrink_mask, offset)
        for lst, v in zip((start, step, count, keep), axis):
            lst.append(v)
    return SliceSpec(tuple(shape), tuple(start), tuple(step), tuple(count), tuple(keep), tuple(new))


def _bit(mask: int, i: int) -> bool:
    return bool(mask >> i & 1)


def _dense_entries(n: int, in_rank: int, ellipsis_mask: int, new_axis_mask: int) -> list[tuple[str, int]]:
    """The dense spec, one (kind, sparse index) per output-building axis, kind one of "slice", "new",
    "full" (index -1 for the axes after the last entry)."""
    added = sum(1 for i in range(n) if _bit(new_axis_mask, i) and not _bit(ellipsis_mask, i))
    rank = in_rank + added
    entries = []
    for i in range(n):
        if _bit(ellipsis_mask, i):
            fill = rank - len(entries) - (n - i - 1)  # every later entry makes one axis
            if fill < 1:
                raise ShapeError("an ellipsis that stands for no axis is not supported")
            entries += [("full", i)] * fill
        elif _bit(new_axis_mask, i):
            entries.append(("new", i))
        else:
            entries.append(("slice", i))
    if len(entries) > rank:
        raise ShapeError(f"the slice has {n} entries for a {in_rank}-D input")
    return entries + [("full", -1)] * (rank - len(entries))


def _slice_axis(size: int, axis: int, b: int, e: int, s: int, i: int, begin_mask: int, end_mask: int,
                shrink_mask: int, offset: bool) -> tuple[int, int, int, bool]:
    """(start, step, count, keep) of sparse entry ``i`` slicing axis ``axis`` of length ``size``."""
    if s == 0:
        raise ShapeError(f"stride {i} is 0")
    if _bit(shrink_mask, i):
        if s < 0:
            raise ShapeError(f"shrunk axis {axis} has a negative stride")
        first = 0 if _bit(begin_mask, i) else (b + size if b < 0 else b)
        if not 0 <= first < size:
            raise ShapeError(f"index {b} of shrunk axis {axis} is out of range for size {size}")
        return first, 1, 1, False
    end = e
    lo, hi = (0, size) if s > 0 else (-1, size - 1)
    b = b + size if b < 0 else b
    b = _clamp(b, lo, hi)
    if _bit(begin_mask, i):
        b = 0 if s > 0 else size - 1
    e = end + b if offset else e
    e = e + size if e < 0 else e
    e = _clamp(e, lo, hi)
    if _bit(end_mask, i):
        e = size if s > 0 else -1
    c = max(0, -(-(e - b) // s)) if s > 0 else max(0, -(-(b - e) // -s))
    return b, s, c, True


def apply_slice(x: np.ndarray, spec: SliceSpec) -> np.ndarray:
    """numpy evaluation of a :class:`SliceSpec` (for folding and tests)."""
    x = np.asarray(x).reshape(spec.shape)
    index = tuple(slice(b, b + c * s if b + c * s >= 0 else None, s) if c else slice(0, 0)
                  for b, s, c in zip(spec.start, spec.step, spec.count))
    return x[index].reshape(spec.out_shape)


# -- strided copies --------------------------------------------------------------------------
def contiguous_strides(shape) -> tuple[int, ...]:
    strides, acc = [], 1
    for d in reversed(tuple(shape)):
        strides.append(acc)
        acc *= int(d)
    return tuple(reversed(strides))


@dataclass(frozen=True)
class Copy:
    """``out[out_offset + sum(i*out_stride)] = in[in_offset + sum(i*in_stride)]`` over
    ``shape`` (tp_copy_params), padded with leading size-1 axes to COPY_MAX_DIMS."""

    shape: tuple[int, ...]
    in_stride: tuple[int, ...]
    out_stride: tuple[int, ...]
    in_offset: int
    out_offset: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def make_copy(shape, in_stride, out_stride, in_offset: int = 0, out_offset: int = 0) -> Copy:
    """A :class:`Copy` with size-1 axes dropped and axes that are contiguous on both sides
    merged (fewer, longer inner runs); raises ShapeError beyond COPY_MAX_DIMS axes."""
    axes = [(int(d), int(a), int(b)) for d, a, b in zip(shape, in_stride, out_stride) if int(d) != 1]
    merged: list[tuple[int, int, int]] = []
    for d, a, b in axes:
        if merged:
            pd, pa, pb = merged[-1]
            if pa == a * d and pb == b * d:
                merged[-1] = (pd * d, a, b)
                continue
        merged.append((d, a, b))
    if len(merged) > COPY_MAX_DIMS:
        raise ShapeError(f"the copy needs {len(merged)} axes after merging; at most {COPY_MAX_DIMS} are supported")
    if any(d == 0 for d, _, _ in merged):
        merged = [(0, 1, 1)]
    pad = [(1, 0, 0)] * (COPY_MAX_DIMS - len(merged))
    full = pad + merged
    return Copy(tuple(d for d, _, _ in full), tuple(a for _, a, _ in full), tuple(b for _, _, b in full),
                int(in_offset), int(out_offset))


def apply_copy(c: Copy, src: np.ndarray, dst: np.ndarray) -> None:
    """numpy model of tp_strided_copy_s8 (tests)."""
    idx = np.indices(c.shape).reshape(len(c.shape), -1)
    s = c.in_offset + (idx * np.array(c.in_stride)[:, None]).sum(0)
    d = c.out_offset + (idx * np.array(c.out_stride)[:, None]).sum(0)
    dst.reshape(-1)[d] = src.reshape(-1)[s]


def slice_copy(spec: SliceSpec) -> Copy:
    """The copy that reads ``spec`` out of its (contiguous) input into a contiguous output."""
    in_strides = contiguous_strides(spec.shape)
    out_strides = contiguous_strides(spec.count)
    offset = sum(b * s for b, s in zip(spec.start, in_strides))
    return make_copy(spec.count, [s * st for s, st in zip(in_strides, spec.step)], out_strides, offset, 0)


def block_copy(part_shape, whole_shape, corner) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(shape, strides in the whole, offset in the whole) of a block of ``part_shape`` at
    ``corner`` inside a contiguous ``whole_shape`` tensor."""
    strides = contiguous_strides(whole_shape)
    return tuple(part_shape), strides, int(sum(c * s for c, s in zip(corner, strides)))


def transpose_copy(in_shape, perm) -> Copy:
    in_strides = contiguous_strides(in_shape)
    out_shape = [in_shape[p] for p in perm]
    return make_copy(out_shape, [in_strides[p] for p in perm], contiguous_strides(out_shape))
