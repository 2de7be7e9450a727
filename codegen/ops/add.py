"""ADD of two same-shaped int8 tensors (residual connections), each with its own scale."""
from __future__ import annotations

from ..quantization import activation_range, add_multipliers
from . import OpEmitter, register


@register
class Add(OpEmitter):
    opcode = "ADD"
    template = "ops/add.j2"
    sources = ("tp_elementwise_add_s8.c",)
    kernel = "tp_elementwise_add_s8"

    def prepare(self):
        o = self.op.options
        a = self.activation_tensor(self.input(0), "input 1")
        b = self.activation_tensor(self.input(1), "input 2")
        out = self.activation_tensor(self.output(), "output")
        if a.is_constant:
            self.fail("a constant first input is not supported")
        if a.shape != b.shape or a.shape != out.shape:
            self.fail(f"broadcasting ({list(a.shape)} + {list(b.shape)} -> {list(out.shape)}) is not supported; "
                      "inputs must have the output's shape")
        self.size = out.size
        self.consts = dict(add_multipliers(a.scale, b.scale, out.scale),
                           input1_offset=-a.zero_point, input2_offset=-b.zero_point, output_offset=out.zero_point)
        self.rounding = self.options.rounding_for(self.op.opcode)
        fused = self.fused_activation(o.fusedActivationFunction if o is not None else 0)
        self.act = activation_range(fused, out.scale, out.zero_point)
        self.const_input2 = self.add_array("input2", "int8_t", b.data, "weights") if b.is_constant else None

    def macs(self) -> int:
        return 0
