"""CONCATENATION int8 along any axis: one block copy per input into the output.

TensorFlow Lite's int8 CONCATENATION copies bytes: it refuses inputs whose scale or zero
point differs from the output's and any fused activation, so neither is supported here."""
from __future__ import annotations

import numpy as np

from ..fold import all_const, axis_of, block_copy, contiguous_strides, make_copy
from .shape_ops import DataMovement
from . import register


@register
class Concatenation(DataMovement):
    opcode = "CONCATENATION"

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        if values is None or not values:
            return None
        rank = len(graph.tensors[op.inputs[0]].shape)
        axis = op.options.axis if op.options is not None else 0
        if not -rank <= axis < rank:
            return None
        parts = [np.asarray(v).reshape(graph.tensors[i].shape) for v, i in zip(values, op.inputs)]
        return [np.concatenate(parts, axis=axis % rank)]

    def plan(self):
        o = self.op.options
        if o is not None and o.fusedActivationFunction:
            self.fail("a fused activation is not allowed on an int8 CONCATENATION (TensorFlow Lite refuses it)",
                      unsupported=False)
        out = self.output()
        inputs = [(k, self.int8_tensor(self.input(k), f"input {k}")) for k in range(len(self.op.inputs))]
        self.check_same_quant(inputs, "CONCATENATION")
        rank = len(out.shape)
        axis = axis_of(o.axis if o is not None else 0, rank)
        at = 0
        for k, t in inputs:
            if len(t.shape) != rank or any(t.shape[d] != out.shape[d] for d in range(rank) if d != axis):
                self.fail(f"input {k} '{t.name}' has shape {list(t.shape)}, which does not fit the output "
                          f"{list(out.shape)} along axis {axis}", unsupported=False)
            corner = [at if d == axis else 0 for d in range(rank)]
            shape, out_strides, offset = block_copy(t.shape, out.shape, corner)
            self.add_copy(make_copy(shape, contiguous_strides(t.shape), out_strides, 0, offset), k)
            at += t.shape[axis]
        if at != out.shape[axis]:
            self.fail(f"the inputs add up to {at} along axis {axis}; the output has {out.shape[axis]}",
                      unsupported=False)
