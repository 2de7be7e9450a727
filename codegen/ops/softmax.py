"""SOFTMAX int8 -> int8 over the last dimension, with TFLite's float exp table."""
from __future__ import annotations

import numpy as np

from ..quantization import softmax_exp_table
from . import OpEmitter, register


@register
class Softmax(OpEmitter):
    opcode = "SOFTMAX"
    template = "ops/softmax.j2"
    sources = ("tp_softmax_s8.c",)
    kernel = "tp_softmax_s8"

    def prepare(self):
        o = self.op.options
        inp = self.activation_tensor(self.input(0), "input")
        out = self.activation_tensor(self.output(), "output")
        if out.shape != inp.shape:
            self.fail(f"output shape {list(out.shape)} differs from input {list(inp.shape)}", unsupported=False)
        if np.float32(out.scale) != np.float32(1.0 / 256) or out.zero_point != -128:
            self.fail(f"output scale {out.scale} / zero point {out.zero_point}; TFLite requires 1/256 and -128",
                      unsupported=False)
        beta = float(o.beta) if o is not None else 1.0
        with np.errstate(over="ignore"):
            product = np.float32(inp.scale) * np.float32(beta)
        if not np.isfinite(product):
            self.fail(f"input scale {inp.scale} x beta {beta} overflows float32; the exp table would be NaN",
                      unsupported=False)
        self.row_size = int(inp.shape[-1]) if inp.shape else 1
        self.rows = inp.size // self.row_size
        self.output_scale = float(np.float32(out.scale))
        self.output_offset = out.zero_point
        self.table = self.add_array("exp_table", "float", softmax_exp_table(inp.scale, beta), "params")

    def macs(self) -> int:
        return 0
