"""PAD / PADV2 int8 with constant paddings, up to 6-D: fill, then copy the input inside.

TensorFlow Lite's int8 PAD fills with the output's zero point and PADV2 with its constant
value, which must carry the output's scale and zero point; the input's bytes are copied
unchanged (no requantization, even when the input's scale differs)."""
from __future__ import annotations

import numpy as np

from ..fold import all_const, block_copy, contiguous_strides, make_copy
from .shape_ops import DataMovement
from . import register


def _pad_value(op, graph) -> int:
    out = graph.tensors[op.outputs[0]]
    if op.opcode == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        return int(np.asarray(graph.tensors[op.inputs[2]].data).reshape(-1)[0])
    return out.zero_point if out.quant is not None else 0


@register
class Pad(DataMovement):
    opcode = "PAD"

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        if values is None:
            return None
        x = np.asarray(values[0]).reshape(graph.tensors[op.inputs[0]].shape)
        p = np.asarray(values[1], np.int64).reshape(-1, 2)
        if p.shape[0] != x.ndim or (p < 0).any():
            return None
        return [np.pad(x, p, constant_values=_pad_value(op, graph))]

    def plan(self):
        x = self.int8_tensor(self.input(0), "input")
        out = self.output()
        p = self.const_ints(1, "paddings")
        rank = len(x.shape)
        if p.size != 2 * rank:
            self.fail(f"paddings has shape {list(p.shape)}; expected [{rank}, 2]", unsupported=False)
        p = p.reshape(rank, 2)
        if (p < 0).any():
            self.fail(f"negative paddings {p.tolist()} are not supported", unsupported=False)
        self.check_shape(out, [d + int(a) + int(b) for d, (a, b) in zip(x.shape, p)])
        self.paddings = p.tolist()
        self.value = self.pad_value()
        if out.size != x.size:
            self.add_fill(self.value)
        shape, out_strides, offset = block_copy(x.shape, out.shape, p[:, 0])
        self.add_copy(make_copy(shape, contiguous_strides(x.shape), out_strides, 0, offset), 0)

    def pad_value(self) -> int:
        return self.output().zero_point


@register
class PadV2(Pad):
    opcode = "PADV2"

    def pad_value(self) -> int:
        out = self.output()
        c = self.input(2, required=False)
        if c is None:
            return out.zero_point
        if not c.is_constant:
            self.fail(f"constant_values tensor '{c.name}' is computed at run time; it must be constant")
        if c.dtype != "int8" or c.size != 1:
            self.fail(f"constant_values tensor '{c.name}' is {c.dtype} with {c.size} values; expected one int8",
                      unsupported=False)
        if c.quant is None or np.float32(c.scale) != np.float32(out.scale) or c.zero_point != out.zero_point:
            self.fail(f"constant_values tensor '{c.name}' must have the output's scale and zero point "
                      f"({out.scale:g}, {out.zero_point}), as TensorFlow Lite requires", unsupported=False)
        return int(np.asarray(c.data).reshape(-1)[0])
