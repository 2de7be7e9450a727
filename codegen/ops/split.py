"""SPLIT / SPLIT_V int8 along a constant axis: one block copy per output, each output its
own buffer (the sizes come from the output shapes, so SPLIT_V's -1 needs no special case)."""
from __future__ import annotations

import numpy as np

from ..fold import all_const, axis_of, block_copy, contiguous_strides, make_copy
from .shape_ops import DataMovement
from . import register


@register
class Split(DataMovement):
    opcode = "SPLIT"
    axis_input, data_input = 0, 1

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        if values is None:
            return None
        x = np.asarray(values[cls.data_input]).reshape(graph.tensors[op.inputs[cls.data_input]].shape)
        axis = int(np.asarray(values[cls.axis_input]).reshape(-1)[0])
        if not -x.ndim <= axis < x.ndim:
            return None
        sizes = [graph.tensors[o].shape[axis % x.ndim] for o in op.outputs]
        if sum(sizes) != x.shape[axis]:
            return None
        return np.split(x, np.cumsum(sizes)[:-1], axis=axis)

    def plan(self):
        x = self.int8_tensor(self.input(self.data_input), "input")
        a = self.const_ints(self.axis_input, "axis").reshape(-1)
        if a.size != 1:
            self.fail(f"axis has {a.size} values; expected one", unsupported=False)
        rank = len(x.shape)
        axis = axis_of(int(a[0]), rank)
        self.axis = axis
        at = 0
        for k, t in enumerate(self.outputs):
            if len(t.shape) != rank or any(t.shape[d] != x.shape[d] for d in range(rank) if d != axis):
                self.fail(f"output {k} '{t.name}' has shape {list(t.shape)}, which is not a piece of the input "
                          f"{list(x.shape)} along axis {axis}", unsupported=False)
            corner = [at if d == axis else 0 for d in range(rank)]
            shape, in_strides, offset = block_copy(t.shape, x.shape, corner)
            self.add_copy(make_copy(shape, in_strides, contiguous_strides(t.shape), offset, 0), self.data_input, k)
            at += t.shape[axis]
        if at != x.shape[axis]:
            self.fail(f"the outputs add up to {at} along axis {axis}; the input has {x.shape[axis]}",
                      unsupported=False)
        if self.opcode == "SPLIT_V":
            sizes = self.const_ints(1, "size_splits").reshape(-1)
            got = [t.shape[axis] for t in self.outputs]
            if len(sizes) != len(got) or any(s not in (-1, g) for s, g in zip(sizes, got)):
                self.fail(f"size_splits {sizes.tolist()} does not match the output sizes {got}", unsupported=False)

    @property
    def activation_inputs(self):
        return [self.input(self.data_input)]


@register
class SplitV(Split):
    opcode = "SPLIT_V"
    axis_input, data_input = 2, 0
