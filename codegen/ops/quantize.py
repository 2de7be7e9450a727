"""QUANTIZE between two int8 quantizations (a requantization), as a table look-up.

A float32 -> int8 QUANTIZE at the model's input is removed before code generation (the
caller's float input is quantized at the boundary); one inside the graph, and uint8 on
either side, are refused: the generated code keeps every activation in int8.
"""
from __future__ import annotations

from .. import lut
from .activations import LutEmitter
from . import register


@register
class Quantize(LutEmitter):
    opcode = "QUANTIZE"

    def prepare(self):
        inp, out = self.input(0), self.output()
        if inp.dtype != "int8" or out.dtype != "int8":
            if inp.dtype == "float32":
                why = "a float32 -> int8 QUANTIZE is supported only on a model input"
            else:
                why = "only int8 -> int8 requantization is supported (activations stay int8)"
            self.fail(f"{inp.dtype} '{inp.name}' -> {out.dtype} '{out.name}': {why}")
        super().prepare()

    def compute_table(self, inp, out):
        return lut.requantize_table(inp.scale, inp.zero_point, out.scale, out.zero_point, self.rounding)
