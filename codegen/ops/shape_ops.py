"""Shape operators, and the base class of every data-movement operator.

SHAPE and CAST only ever run on static shapes (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE
sub-graphs the converter emits around a dynamic batch): they are folded at code generation
and generate no code. EXPAND_DIMS and SQUEEZE are views like RESHAPE: the output is the
input's bytes.

:class:`DataMovement` is the base of CONCATENATION, PAD, TRANSPOSE, STRIDED_SLICE, SLICE,
SPLIT, PACK and UNPACK: each is a list of strided copies (and fills) computed on the host
(codegen/fold.py) and run by tp_strided_copy_s8. Bytes move unchanged, as in TensorFlow
Lite's reference kernels, which never requantize these operators.
"""
from __future__ import annotations

from abc import abstractmethod

from dataclasses import dataclass

import numpy as np

from ..fold import Copy, ShapeError, all_const
from . import OpEmitter, register


@dataclass(frozen=True)
class CopyStep:
    copy: Copy
    src_act: int | None  # position among the activation inputs (l.in_ptrs) ...
    src_const: str | None  # ... or the const array holding a constant input
    dst: int  # output index (l.out_ptrs)


@dataclass(frozen=True)
class FillStep:
    value: int
    dst: int
    size: int


class ShapeOpEmitter(OpEmitter):
    """Helpers for operators whose parameters are constant index tensors."""

    def const_ints(self, i: int, role: str) -> np.ndarray:
        t = self.input(i)
        if not t.is_constant:
            self.fail(f"{role} tensor '{t.name}' is computed at run time; it must be constant")
        if t.dtype not in ("int32", "int64"):
            self.fail(f"{role} tensor '{t.name}' is {t.dtype}; expected int32 or int64", unsupported=False)
        return np.asarray(t.data, np.int64)

    def int8_tensor(self, t, role: str):
        """An int8 data operand: an activation, or a constant int8 tensor."""
        if t.is_constant:
            if t.dtype != "int8":
                self.fail(f"{role} tensor '{t.name}' is a constant {t.dtype}; only int8 data is supported")
            return t
        return self.activation_tensor(t, role)

    def check_shape(self, t, expected, what: str = "output"):
        if tuple(t.shape) != tuple(int(d) for d in expected):
            self.fail(f"{what} tensor '{t.name}' has shape {list(t.shape)}; the operator's parameters give "
                      f"{[int(d) for d in expected]}", unsupported=False)


class DataMovement(ShapeOpEmitter):
    template = "ops/copy.j2"
    sources = ("tp_copy_s8.c",)

    def prepare(self):
        self.copies: list[CopyStep] = []
        self.fills: list[FillStep] = []
        self._const_src: dict[int, str] = {}
        for k, t in enumerate(self.outputs):
            self.activation_tensor(t, f"output {k}" if len(self.outputs) > 1 else "output")
            if t.size == 0:
                self.fail(f"output tensor '{t.name}' is empty (shape {list(t.shape)})")
        try:
            self.plan()
        except ShapeError as e:
            self.fail(str(e))

    @abstractmethod
    def plan(self) -> None:
        """Validate the operator and add its copies and fills."""
        ...

    def add_copy(self, copy: Copy, src_input: int, dst: int = 0) -> None:
        if copy.size == 0:
            return
        t = self.input(src_input)
        if t.is_constant:
            if src_input not in self._const_src:
                self._const_src[src_input] = self.add_array(f"in{src_input}", "int8_t",
                                                            np.asarray(t.data, np.int8).reshape(-1), "weights")
            self.copies.append(CopyStep(copy, None, self._const_src[src_input], dst))
            return
        pos = sum(1 for i in self.op.inputs[:src_input] if i >= 0 and not self.graph.tensors[i].is_constant)
        self.copies.append(CopyStep(copy, pos, None, dst))

    def add_fill(self, value: int, dst: int = 0) -> None:
        self.fills.append(FillStep(int(value), dst, self.outputs[dst].size))

    def check_same_quant(self, inputs, opname: str) -> None:
        """TFLite's int8 CONCATENATION and PACK refuse inputs whose scale or zero point differs
        from the output's (they copy bytes and do not requantize)."""
        out = self.output()
        for k, t in inputs:
            if t.quant is None or np.float32(t.scale) != np.float32(out.scale) or t.zero_point != out.zero_point:
                got = f"{t.scale:g}/{t.zero_point}" if t.quant is not None else "none"
                self.fail(f"input {k} '{t.name}' has scale/zero point {got}, the output "
                          f"{out.scale:g}/{out.zero_point}; TensorFlow Lite's int8 {opname} requires them equal "
                          "(it copies bytes, it does not requantize)", unsupported=False)


# -- folded shape arithmetic -------------------------------------------------------------------
@register
class Shape(ShapeOpEmitter):
    opcode = "SHAPE"
    template = "ops/reshape.j2"

    @classmethod
    def fold(cls, op, graph):
        t = graph.tensors[op.inputs[0]]
        if any(d < 0 for d in t.shape):
            return None
        return [np.array(t.shape, dtype=graph.tensors[op.outputs[0]].dtype)]

    def prepare(self):
        self.fail("SHAPE must fold at code generation; its output cannot be a model output")


@register
class Cast(ShapeOpEmitter):
    opcode = "CAST"
    template = "ops/reshape.j2"

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        if values is None or len(values) != 1:
            return None
        return [np.asarray(values[0]).astype(graph.tensors[op.outputs[0]].dtype)]

    def prepare(self):
        t = self.input(0)
        self.fail(f"CAST of tensor '{t.name}' ({t.dtype} -> {self.output().dtype}) at run time is not supported; "
                  "only casts of constants (shape arithmetic), which fold at code generation")


# -- views --------------------------------------------------------------------------------------
class View(ShapeOpEmitter):
    """The output is the input's bytes in another shape (the planner aliases the buffers)."""

    template = "ops/reshape.j2"
    in_place = True

    @classmethod
    def fold(cls, op, graph):
        t = graph.tensors[op.inputs[0]]
        if not t.is_constant:
            return None
        return [np.asarray(t.data).reshape(graph.tensors[op.outputs[0]].shape)]

    def prepare(self):
        inp = self.activation_tensor(self.input(0), "input")
        out = self.activation_tensor(self.output(), "output")
        try:
            expected = self.out_shape(tuple(inp.shape))
        except ShapeError as e:
            self.fail(str(e))
        self.check_shape(out, expected)
        self.size = out.size

    @abstractmethod
    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Implemented by each concrete operator."""

    @property
    def activation_inputs(self):
        return [self.input(0)]  # the axis operand is data, not RAM


@register
class ExpandDims(View):
    opcode = "EXPAND_DIMS"

    def out_shape(self, in_shape):
        axis = self.const_ints(1, "axis").reshape(-1)
        if axis.size != 1:
            self.fail(f"axis has {axis.size} values; expected one", unsupported=False)
        rank = len(in_shape) + 1
        a = int(axis[0])
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a} is out of range for a {len(in_shape)}-D input")
        a = a + rank if a < 0 else a
        return in_shape[:a] + (1,) + in_shape[a:]


@register
class Squeeze(View):
    opcode = "SQUEEZE"

    def out_shape(self, in_shape):
        o = self.op.options
        dims = list(o.squeezeDims) if o is not None and o.squeezeDims is not None else []
        rank = len(in_shape)
        if not dims:
            return tuple(d for d in in_shape if d != 1)
        axes = set()
        for a in dims:
            if not -rank <= int(a) < rank:
                raise ShapeError(f"squeeze axis {int(a)} is out of range for a {rank}-D input")
            a = int(a) % rank
            if in_shape[a] != 1:
                raise ShapeError(f"squeeze axis {a} has size {in_shape[a]}, not 1")
            axes.add(a)
        return tuple(d for i, d in enumerate(in_shape) if i not in axes)


@register
class ReduceProd(ShapeOpEmitter):
    """Shape arithmetic only (Keras' Dense on a 3-D tensor multiplies dimensions)."""

    opcode = "REDUCE_PROD"
    template = "ops/reshape.j2"

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        out = graph.tensors[op.outputs[0]]
        if values is None or len(values) != 2 or out.dtype not in ("int32", "int64"):
            return None
        x, axes = np.asarray(values[0], np.int64), np.asarray(values[1], np.int64).reshape(-1)
        keep = bool(getattr(op.options, "keepDims", False)) if op.options is not None else False
        rank = x.ndim
        if any(not -rank <= a < rank for a in axes):
            return None
        res = np.prod(x, axis=tuple(int(a) % rank for a in axes) if axes.size else None, keepdims=keep) \
            if rank else x
        return [np.asarray(res).astype(out.dtype).reshape(out.shape)]

    def prepare(self):
        t = self.input(0)
        self.fail(f"REDUCE_PROD of tensor '{t.name}' at run time is not supported; only products of "
                  "constants (shape arithmetic), which fold at code generation")
