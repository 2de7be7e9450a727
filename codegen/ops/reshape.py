"""RESHAPE: no computation; the planner gives the output the input's buffer when it can."""
from __future__ import annotations

import numpy as np

from . import OpEmitter, register


@register
class Reshape(OpEmitter):
    opcode = "RESHAPE"
    template = "ops/reshape.j2"
    in_place = True

    @classmethod
    def fold(cls, op, graph):
        t, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        if not t.is_constant or np.size(t.data) != out.size:  # a size mismatch is refused by prepare()
            return None
        return [np.asarray(t.data).reshape(out.shape)]

    def prepare(self):
        inp = self.activation_tensor(self.input(0), "input")
        out = self.activation_tensor(self.output(), "output")
        if inp.size != out.size:
            self.fail(f"input has {inp.size} values, output {out.size}", unsupported=False)
        if inp.scale != out.scale or inp.zero_point != out.zero_point:
            self.fail("input and output quantization differ")
        self.size = out.size

    @property
    def activation_inputs(self):
        return [self.input(0)]  # the shape operand is data, not RAM
