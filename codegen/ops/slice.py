"""STRIDED_SLICE (every mask, negative strides, offset) and SLICE int8 with constant
begin/end/strides: the per-axis start, step and count are computed here with TensorFlow
Lite's clamping rules (codegen/fold.py) and run as one strided copy."""
from __future__ import annotations

import numpy as np

from ..fold import ShapeError, SliceSpec, all_const, apply_slice, slice_copy, strided_slice_spec
from .shape_ops import DataMovement
from . import register


def _strided_spec(op, in_shape, begin, end, strides) -> SliceSpec:
    o = op.options
    return strided_slice_spec(in_shape, begin, end, strides,
                              begin_mask=o.beginMask if o is not None else 0,
                              end_mask=o.endMask if o is not None else 0,
                              ellipsis_mask=o.ellipsisMask if o is not None else 0,
                              new_axis_mask=o.newAxisMask if o is not None else 0,
                              shrink_mask=o.shrinkAxisMask if o is not None else 0,
                              offset=bool(getattr(o, "offset", False)) if o is not None else False)


def _slice_spec(in_shape, begin, size) -> SliceSpec:
    """SLICE: size -1 takes the rest of the axis."""
    begin, size = np.asarray(begin, np.int64).reshape(-1), np.asarray(size, np.int64).reshape(-1)
    if len(begin) != len(in_shape) or len(size) != len(in_shape):
        raise ShapeError(f"begin and size have {len(begin)} and {len(size)} entries for a {len(in_shape)}-D input")
    count = []
    for axis, (d, b, s) in enumerate(zip(in_shape, begin, size)):
        s = d - b if s == -1 else s
        if b < 0 or s < 0 or b + s > d:
            raise ShapeError(f"axis {axis}: begin {int(b)} size {int(s)} does not fit size {d}")
        count.append(int(s))
    n = len(in_shape)
    return SliceSpec(tuple(in_shape), tuple(int(b) for b in begin), (1,) * n, tuple(count), (True,) * n,
                     (False,) * n)


@register
class StridedSlice(DataMovement):
    opcode = "STRIDED_SLICE"

    @classmethod
    def spec(cls, op, in_shape, values) -> SliceSpec:
        return _strided_spec(op, in_shape, *values[1:4])

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        if values is None:
            return None
        try:
            spec = cls.spec(op, graph.tensors[op.inputs[0]].shape, values)
        except ShapeError:
            return None
        if spec.out_shape != tuple(graph.tensors[op.outputs[0]].shape):
            return None
        return [apply_slice(values[0], spec)]

    def plan(self):
        x = self.int8_tensor(self.input(0), "input")
        n_params = 4 if self.opcode == "STRIDED_SLICE" else 3
        values = [None] + [self.const_ints(i, r) for i, r in zip(range(1, n_params),
                                                                   ("begin", "end", "strides") if n_params == 4
                                                                   else ("begin", "size"))]
        spec = self.spec(self.op, x.shape, values)
        self.check_shape(self.output(), spec.out_shape)
        self.slice_spec = spec
        self.add_copy(slice_copy(spec), 0)


@register
class Slice(StridedSlice):
    opcode = "SLICE"

    @classmethod
    def spec(cls, op, in_shape, values) -> SliceSpec:
        return _slice_spec(in_shape, *values[1:3])
