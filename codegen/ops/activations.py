"""Activations as standalone int8 operators: RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, LOGISTIC,
TANH, HARD_SWISH.

Each is a function of one int8 value, so the generator tabulates it on the host with
TFLite's reference arithmetic (codegen/lut.py) and the C is one table look-up per value
(``tp_lut_s8``). The output may overwrite the input in the arena.
"""
from __future__ import annotations

from abc import abstractmethod

from typing import ClassVar

import numpy as np

from .. import lut
from ..ir import Tensor
from . import OpEmitter, register


class LutEmitter(OpEmitter):
    """An int8 -> int8 operator computed through a 256-entry table (``table[x + 128]``)."""

    template = "ops/lut.j2"
    sources = ("tp_lut_s8.c",)
    kernel = "tp_lut_s8"
    elementwise_in_place = True

    def prepare(self):
        inp = self.activation_tensor(self.input(0), "input")
        out = self.activation_tensor(self.output(), "output")
        for role, t in (("input", inp), ("output", out)):
            if t.quant.per_channel:
                self.fail(f"{role} tensor '{t.name}' has per-channel quantization "
                          f"({len(t.quant.scale)} scales); TFLite needs one scale here", unsupported=False)
        if inp.shape != out.shape:
            self.fail(f"output shape {list(out.shape)} differs from input {list(inp.shape)}", unsupported=False)
        self.size = out.size
        self.rounding = "single" if self.options.rounding_for(self.op.opcode) == "TP_ROUND_SINGLE" else "double"
        try:
            values = self.compute_table(inp, out)
        except lut.LutError as e:
            self.fail(f"{e} (input '{inp.name}' scale {inp.scale!r} zero point {inp.zero_point}, output "
                      f"'{out.name}' scale {out.scale!r} zero point {out.zero_point})",
                      unsupported=not e.tflite_rejects)
        self.table_values = values
        self.table = self.add_array("table", "int8_t", values, "params")

    @abstractmethod
    def compute_table(self, inp: Tensor, out: Tensor) -> np.ndarray:
        """The 256 outputs for inputs -128..127 (codegen/lut.py)."""
        ...

    def macs(self) -> int:
        return 0


class _Relu(LutEmitter):
    kind: ClassVar[str]

    def compute_table(self, inp, out):
        return lut.relu_table(self.kind, inp.scale, inp.zero_point, out.scale, out.zero_point, self.rounding)


@register
class Relu(_Relu):
    opcode = "RELU"
    kind = "RELU"


@register
class Relu6(_Relu):
    opcode = "RELU6"
    kind = "RELU6"


@register
class ReluN1To1(_Relu):
    opcode = "RELU_N1_TO_1"
    kind = "RELU_N1_TO_1"


@register
class LeakyRelu(LutEmitter):
    opcode = "LEAKY_RELU"

    def compute_table(self, inp, out):
        o = self.op.options
        self.alpha = float(o.alpha) if o is not None and o.alpha is not None else 0.0
        if not np.isfinite(self.alpha):
            self.fail(f"alpha is {self.alpha}", unsupported=False)
        return lut.leaky_relu_table(self.alpha, inp.scale, inp.zero_point, out.scale, out.zero_point,
                                    self.rounding)


@register
class Logistic(LutEmitter):
    opcode = "LOGISTIC"

    def compute_table(self, inp, out):
        return lut.logistic_table(inp.scale, inp.zero_point, out.scale, out.zero_point)


@register
class Tanh(LutEmitter):
    opcode = "TANH"

    def compute_table(self, inp, out):
        return lut.tanh_table(inp.scale, inp.zero_point, out.scale, out.zero_point)


@register
class HardSwish(LutEmitter):
    opcode = "HARD_SWISH"

    def compute_table(self, inp, out):
        return lut.hard_swish_table(inp.scale, inp.zero_point, out.scale, out.zero_point)
