"""PACK / UNPACK int8 along any axis: PACK copies each input into its slot of the output
(TensorFlow Lite requires equal scales and zero points), UNPACK copies each slot out."""
from __future__ import annotations

import numpy as np

from ..fold import all_const, axis_of, block_copy, contiguous_strides, make_copy
from .shape_ops import DataMovement
from . import register


@register
class Pack(DataMovement):
    opcode = "PACK"

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        if values is None or not values:
            return None
        parts = [np.asarray(v).reshape(graph.tensors[i].shape) for v, i in zip(values, op.inputs)]
        axis = op.options.axis if op.options is not None else 0
        if not -(parts[0].ndim + 1) <= axis <= parts[0].ndim:
            return None
        return [np.stack(parts, axis=axis)]

    def plan(self):
        out = self.output()
        inputs = [(k, self.int8_tensor(self.input(k), f"input {k}")) for k in range(len(self.op.inputs))]
        self.check_same_quant(inputs, "PACK")
        rank = len(out.shape)
        axis = axis_of(self.op.options.axis if self.op.options is not None else 0, rank)
        base = inputs[0][1].shape
        self.check_shape(out, tuple(base[:axis]) + (len(inputs),) + tuple(base[axis:]))
        for k, t in inputs:
            if tuple(t.shape) != tuple(base):
                self.fail(f"input {k} '{t.name}' has shape {list(t.shape)}; input 0 has {list(base)}",
                          unsupported=False)
            corner = [k if d == axis else 0 for d in range(rank)]
            shape, out_strides, offset = block_copy(tuple(base[:axis]) + (1,) + tuple(base[axis:]), out.shape, corner)
            in_strides = contiguous_strides(shape)
            self.add_copy(make_copy(shape, in_strides, out_strides, 0, offset), k)


@register
class Unpack(DataMovement):
    opcode = "UNPACK"

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        if values is None:
            return None
        x = np.asarray(values[0]).reshape(graph.tensors[op.inputs[0]].shape)
        axis = op.options.axis if op.options is not None else 0
        if not -x.ndim <= axis < x.ndim or x.shape[axis] != len(op.outputs):
            return None
        return [np.take(x, k, axis=axis) for k in range(len(op.outputs))]

    def plan(self):
        x = self.int8_tensor(self.input(0), "input")
        rank = len(x.shape)
        axis = axis_of(self.op.options.axis if self.op.options is not None else 0, rank)
        if x.shape[axis] != len(self.outputs):
            self.fail(f"input axis {axis} has {x.shape[axis]} entries for {len(self.outputs)} outputs",
                      unsupported=False)
        piece = tuple(x.shape[:axis]) + (1,) + tuple(x.shape[axis + 1:])
        for k, t in enumerate(self.outputs):
            self.check_shape(t, tuple(x.shape[:axis]) + tuple(x.shape[axis + 1:]), f"output {k}")
            corner = [k if d == axis else 0 for d in range(rank)]
            shape, in_strides, offset = block_copy(piece, x.shape, corner)
            self.add_copy(make_copy(shape, in_strides, contiguous_strides(shape), offset, 0), 0, k)
