"""Elementwise binary int8 operators with broadcasting: ADD, SUB, MUL, MAXIMUM, MINIMUM and
SQUARED_DIFFERENCE (PRELU, in prelu.py, shares the broadcast plan and the operand handling).

Either input may be a constant (emitted as const data), the two inputs and the output may
have different scales and zero points, and the shapes broadcast as in NumPy/TFLite: aligned
on the right, an extent-1 (or missing) dimension repeats. The host turns the shapes into a
``tp_ew_shape``: extent-1 output dimensions are dropped and neighbours that both inputs
traverse alike are merged, so equal shapes become one flat row and a per-channel operand a
two-dimensional walk with stride 0 along the broadcast dimension.

Each operator's requantization constants are derived here, in TFLite's order of operations
(its Prepare functions), and the kernels only do the integer arithmetic of its reference
Eval:

- ADD / SUB: both inputs, zero point removed and shifted left 20 bits, are rescaled to twice
  the larger input scale (multipliers below one), summed or subtracted, and requantized by
  2 * max_scale / (2^20 * output_scale).
- MUL: one multiplier, input1_scale * input2_scale / output_scale (a float32 product), which
  may exceed one.
- SQUARED_DIFFERENCE: as SUB with a left shift of 7, then the square requantized by
  (2 * max_scale)^2 / (2^14 * output_scale); no fused activation, the int8 range.
- MAXIMUM / MINIMUM: TFLite compares the stored int8 codes and copies the winner; scales and
  zero points are not consulted (converters give the inputs the output's quantization).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml_prune.errors import ModelError

from ..ir import Tensor
from ..quantization import INT8_MAX, INT8_MIN, activation_range, add_multipliers, quantize_multiplier
from .. import fold
from . import OpEmitter, register

MAX_DIMS = 6  # TP_EW_MAX_DIMS in tp_nn_elementwise.h


@dataclass(frozen=True)
class BroadcastPlan:
    """The output's extents (outermost first) and each input's element strides, 0 = broadcast."""

    dims: tuple[int, ...]
    stride1: tuple[int, ...]
    stride2: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def flat(self) -> bool:
        """Both inputs have the output's shape: one row, both strides 1."""
        return self.rank == 1 and self.stride1 == (1,) and self.stride2 == (1,)


def broadcast_shape(shape1: tuple[int, ...], shape2: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy/TFLite broadcast of two shapes; ValueError when an extent pair is incompatible."""
    rank = max(len(shape1), len(shape2))
    a = (1,) * (rank - len(shape1)) + tuple(shape1)
    b = (1,) * (rank - len(shape2)) + tuple(shape2)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError(f"{list(shape1)} and {list(shape2)} do not broadcast (extents {x} and {y})")
        out.append(y if x == 1 else x)
    return tuple(out)


def broadcast_plan(shape1: tuple[int, ...], shape2: tuple[int, ...], out_shape: tuple[int, ...]) -> BroadcastPlan:
    """How the output's elements map onto both inputs (see the module docstring)."""
    want = broadcast_shape(shape1, shape2)
    if tuple(out_shape) != want:
        raise ValueError(f"output shape {list(out_shape)} is not the broadcast of {list(shape1)} and "
                         f"{list(shape2)} ({list(want)})")
    rank = len(want)

    def strides(shape):
        shape = (1,) * (rank - len(shape)) + tuple(shape)
        s, acc = [0] * rank, 1
        for d in reversed(range(rank)):
            s[d] = acc if shape[d] != 1 else 0
            acc *= shape[d]
        return s

    s1, s2 = strides(shape1), strides(shape2)
    dims: list[int] = []
    st1: list[int] = []
    st2: list[int] = []
    for d in range(rank):
        if want[d] == 1:
            continue
        # Merge into the previous (outer) dimension when both inputs continue their walk there.
        if dims and st1[-1] == s1[d] * want[d] and st2[-1] == s2[d] * want[d]:
            dims[-1] *= want[d]
            st1[-1], st2[-1] = s1[d], s2[d]
        else:
            dims.append(want[d])
            st1.append(s1[d])
            st2.append(s2[d])
    if not dims:  # a single element
        dims, st1, st2 = [1], [0], [0]
    return BroadcastPlan(tuple(dims), tuple(st1), tuple(st2))


def _check_scale(multiplier_shift: tuple[int, int], what: str, limit_shift: int = 0) -> tuple[int, int]:
    m, s = multiplier_shift
    if s > limit_shift:
        raise ModelError(f"{what} needs a left shift of {s} bits, more than TensorFlow Lite allows ({limit_shift})")
    return m, s


def squared_difference_multipliers(scale1: float, scale2: float, out_scale: float, left_shift: int = 7) -> dict:
    """Constants of TFLite's int8 SQUARED_DIFFERENCE (double arithmetic from float32 scales)."""
    s1, s2, so = np.float32(scale1), np.float32(scale2), np.float32(out_scale)
    twice_max = float(np.float32(2) * max(s1, s2))
    m1, sh1 = _check_scale(quantize_multiplier(float(s1) / twice_max), "input 1 rescale")
    m2, sh2 = _check_scale(quantize_multiplier(float(s2) / twice_max), "input 2 rescale")
    real_out = (twice_max * twice_max) / float(np.float32((1 << (2 * left_shift)) * so))
    if real_out >= 1.0:
        raise ModelError(f"output requantization ratio {real_out:.6g} is not below one (scales {float(s1)}, "
                         f"{float(s2)} -> {float(so)}); TensorFlow Lite rejects it")
    mo, sho = quantize_multiplier(real_out)
    return dict(input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2,
                output_multiplier=mo, output_shift=sho, left_shift=left_shift)


def mul_multiplier(scale1: float, scale2: float, out_scale: float) -> tuple[int, int]:
    """TFLite's int8 MUL multiplier: input1_scale * input2_scale / output_scale in float32."""
    real = np.float32(np.float32(scale1) * np.float32(scale2)) / np.float32(out_scale)
    return quantize_multiplier(float(np.float32(real)))


class BinaryElementwise(OpEmitter):
    """Two int8 operands (either one may be constant), one int8 output, broadcast walk."""

    elementwise_in_place = True
    fused_options = True  # the operator's options carry a fused activation
    params_type: str | None = None  # the params struct of the kernel (None: the kernel has none)
    roles = ("input 1", "input 2")

    def prepare(self):
        if len([i for i in self.op.inputs if i >= 0]) != 2:
            self.fail(f"expected 2 inputs, got {len([i for i in self.op.inputs if i >= 0])}", unsupported=False)
        ins = [self.input(0), self.input(1)]
        out = self.output()
        self.check_operands(ins, out)
        a, b = ins
        if a.is_constant and b.is_constant:
            self.fail(f"both inputs ('{a.name}', '{b.name}') are constant; fold them into a constant first")
        if out.is_constant or out.dtype != "int8" or out.quant is None:
            self.fail(f"output tensor '{out.name}' is {out.dtype}{'' if out.quant else ' without quantization'}; "
                      "only int8 outputs are supported")
        if len(out.shape) > MAX_DIMS or any(len(t.shape) > MAX_DIMS for t in ins):
            self.fail(f"rank above {MAX_DIMS} is not supported ({[list(t.shape) for t in (a, b, out)]})")
        try:
            self.plan = broadcast_plan(a.shape, b.shape, out.shape)
        except ValueError as e:
            self.fail(str(e), unsupported=False)
        self.size = out.size
        self.operands = []  # per input: ("array", C name) or ("act", position in activation_inputs)
        k = 0
        for i, t in enumerate(ins):
            if t.is_constant:
                self.operands.append(("array", self.add_array(f"input{i + 1}", "int8_t",
                                                              np.asarray(t.data, np.int8).reshape(-1), "weights")))
            else:
                self.operands.append(("act", k))
                k += 1
        self.rounding = self.options.rounding_for(self.op.opcode)
        o = self.op.options
        fused = self.fused_activation(getattr(o, "fusedActivationFunction", 0) if o is not None else 0) \
            if self.fused_options else "NONE"
        self.act = activation_range(fused, out.scale, out.zero_point)
        try:
            self.params = self.constants(a, b, out)
        except ModelError as e:
            self.fail(str(e), unsupported=False)

    def check_operands(self, ins: list[Tensor], out: Tensor) -> None:
        for role, t in zip(self.roles, ins):
            if t.dtype != "int8":
                self.fail(f"{role} tensor '{t.name}' is {t.dtype}; only int8 is supported")
            if t.quant is None:
                self.fail(f"{role} tensor '{t.name}' has no quantization parameters", unsupported=False)
            if t.is_constant and np.asarray(t.data).size != t.size:
                self.fail(f"{role} tensor '{t.name}' holds {np.asarray(t.data).size} values for shape "
                          f"{list(t.shape)}", unsupported=False)
            if t.quant.per_channel:
                self.fail(f"{role} tensor '{t.name}' is quantized per channel ({len(t.quant.scale)} scales); "
                          "TensorFlow Lite reads one scale per tensor here")
        if out.quant is not None and out.quant.per_channel:
            self.fail(f"output tensor '{out.name}' is quantized per channel", unsupported=False)

    def constants(self, a: Tensor, b: Tensor, out: Tensor) -> dict[str, int]:
        """The params struct's integer fields, in declaration order."""
        return {}

    def macs(self) -> int:
        return 0


def _offsets(a: Tensor, b: Tensor, out: Tensor) -> dict[str, int]:
    return dict(input1_offset=-a.zero_point, input2_offset=-b.zero_point, output_offset=out.zero_point)


class _AddLike(BinaryElementwise):
    """Both inputs rescaled to a common scale with headroom, combined, requantized (tp_add_params)."""

    params_type = "tp_add_params"
    sources = ("tp_elementwise_add_s8.c", "tp_elementwise_broadcast_s8.c")
    multipliers = staticmethod(add_multipliers)  # (scale1, scale2, out_scale) -> dict

    def constants(self, a, b, out):
        c = self.multipliers(a.scale, b.scale, out.scale)
        keys = ("input1_multiplier", "input1_shift", "input2_multiplier", "input2_shift", "left_shift",
                "output_multiplier", "output_shift")
        return dict(_offsets(a, b, out), **{k: c[k] for k in keys})


@register
class Add(_AddLike):
    opcode = "ADD"
    template = "ops/elementwise.j2"
    kernel = "tp_elementwise_add_s8"

    @classmethod
    def fold(cls, op, graph):
        # int32/int64 shape arithmetic of the converter's SHAPE sub-graphs; int8 is computed on the board
        return fold.elementwise(op, graph, np.add)


@register
class Sub(_AddLike):
    opcode = "SUB"
    template = "ops/elementwise.j2"
    kernel = "tp_elementwise_sub_s8"

    @classmethod
    def fold(cls, op, graph):
        # int32/int64 shape arithmetic of the converter's SHAPE sub-graphs; int8 is computed on the board
        return fold.elementwise(op, graph, np.subtract)


@register
class SquaredDifference(_AddLike):
    opcode = "SQUARED_DIFFERENCE"
    template = "ops/elementwise.j2"
    kernel = "tp_elementwise_squared_difference_s8"
    fused_options = False
    multipliers = staticmethod(squared_difference_multipliers)


@register
class Mul(BinaryElementwise):
    opcode = "MUL"
    template = "ops/elementwise.j2"
    sources = ("tp_elementwise_mul_s8.c", "tp_elementwise_broadcast_s8.c")
    kernel = "tp_elementwise_mul_s8"

    @classmethod
    def fold(cls, op, graph):
        # int32/int64 shape arithmetic of the converter's SHAPE sub-graphs; int8 is computed on the board
        return fold.elementwise(op, graph, np.multiply)
    params_type = "tp_mul_params"

    def constants(self, a, b, out):
        m, s = mul_multiplier(a.scale, b.scale, out.scale)
        return dict(**_offsets(a, b, out), output_multiplier=m, output_shift=s)

    def macs(self) -> int:
        return self.size


class _MinMax(BinaryElementwise):
    template = "ops/elementwise.j2"
    sources = ("tp_elementwise_minmax_s8.c", "tp_elementwise_broadcast_s8.c")
    fused_options = False

    def prepare(self):
        super().prepare()
        self.rounding = None
        self.act = (INT8_MIN, INT8_MAX)


@register
class Maximum(_MinMax):
    opcode = "MAXIMUM"
    kernel = "tp_elementwise_maximum_s8"


@register
class Minimum(_MinMax):
    opcode = "MINIMUM"
    kernel = "tp_elementwise_minimum_s8"
