"""Op emitters: one registered class per TFLite operator the generator supports.

An emitter validates its operator, computes everything the kernel needs on the host
(requantization multipliers, padding, clamps), reports its cost (``macs``,
``weight_bytes``, ``scratch_bytes``) and names the template that renders its C.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from abc import ABC, abstractmethod

import numpy as np

from tinyml_prune.errors import ModelError, UnsupportedOpError

from .. import formats
from ..ir import Graph, Operator, Tensor

EMITTERS: dict[str, type["OpEmitter"]] = {}

FUSED_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def register(cls: type["OpEmitter"]) -> type["OpEmitter"]:
    EMITTERS[cls.opcode] = cls
    return cls


@dataclass(frozen=True)
class CArray:
    """A const array emitted into the weights file."""

    name: str
    ctype: str  # int8_t, int32_t, float, uint8_t, ...
    values: np.ndarray
    kind: str  # "weights" (counts as weight bytes) or "params" (requantization, tables)

    @property
    def nbytes(self) -> int:
        return int(self.values.size * self.values.dtype.itemsize)


class OpEmitter(ABC):
    opcode: ClassVar[str]
    template: ClassVar[str]  # under templates/ops/, defines macros declare(l) and invoke(l)
    sources: ClassVar[tuple[str, ...]] = ()  # kernel .c files (under firmware/kernels/ref)
    in_place: ClassVar[bool] = False  # a view: output is input 0's bytes unchanged (RESHAPE)
    # out[i] depends on input 0 at i only (and other inputs): the planner lets the output
    # overwrite input 0 when it lives in the arena and nothing reads it afterwards.
    elementwise_in_place: ClassVar[bool] = False
    format_scratch: int = 0  # scratch the weight format's kernel needs (set by formats.specialize)

    def __init__(self, op: Operator, graph: Graph, options):
        self.op = op
        self.graph = graph
        self.options = options
        self.name = f"l{op.index}"
        self.arrays: list[CArray] = []
        self.prepare()
        formats.specialize(self)

    # -- helpers for subclasses -------------------------------------------------------
    def where(self) -> str:
        return f"operator {self.op.index} ({self.op.opcode})"

    def fail(self, msg: str, unsupported: bool = True):
        cls = UnsupportedOpError if unsupported else ModelError
        raise cls(f"{self.where()}: {msg}")

    def input(self, i: int, required: bool = True) -> Tensor | None:
        idx = self.op.inputs[i] if i < len(self.op.inputs) else -1
        t = self.graph.tensor(idx)
        if t is None and required:
            self.fail(f"input {i} is missing", unsupported=False)
        return t

    def output(self, i: int = 0) -> Tensor:
        if i >= len(self.op.outputs):
            self.fail(f"output {i} is missing", unsupported=False)
        return self.graph.tensors[self.op.outputs[i]]

    @property
    def outputs(self) -> list[Tensor]:
        """Every output tensor, in the operator's order (the planner gives each a buffer)."""
        return [self.graph.tensors[i] for i in self.op.outputs]

    def activation_tensor(self, t: Tensor, role: str) -> Tensor:
        if t.dtype != "int8":
            self.fail(f"{role} tensor '{t.name}' is {t.dtype}; only int8 activations are supported")
        if t.quant is None:
            self.fail(f"{role} tensor '{t.name}' has no quantization parameters", unsupported=False)
        if t.is_constant and role != "input 2":
            self.fail(f"{role} tensor '{t.name}' is constant; expected an activation")
        return t

    def int8_weights(self, t: Tensor, role: str = "filter") -> Tensor:
        if not t.is_constant:
            self.fail(f"{role} tensor '{t.name}' is not constant (runtime weights are not supported)")
        if t.dtype != "int8" or t.quant is None:
            self.fail(f"{role} tensor '{t.name}' is {t.dtype}{'' if t.quant else ' without quantization'}; "
                      "expected int8 weights")
        if np.any(t.quant.zero_point != 0):
            self.fail(f"{role} tensor '{t.name}' has a nonzero zero point; int8 weights must be symmetric",
                      unsupported=False)
        return t

    def int32_bias(self, t: Tensor | None, channels: int) -> Tensor | None:
        if t is None:
            return None
        if not t.is_constant or t.dtype != "int32":
            self.fail(f"bias tensor '{t.name}' is {'non-constant ' if not t.is_constant else ''}{t.dtype}; "
                      "expected constant int32")
        if t.size != channels:
            self.fail(f"bias tensor '{t.name}' has {t.size} values for {channels} output channels",
                      unsupported=False)
        return t

    def fused_activation(self, code: int) -> str:
        name = FUSED_ACTIVATIONS.get(int(code), f"code {code}")
        if name not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
            self.fail(f"fused activation {name} is not supported (NONE, RELU, RELU6 only)")
        return name

    def encode_weights(self, values: np.ndarray) -> str:
        """The filter as dense int8; after prepare(), formats.specialize() re-encodes it in
        the format the options ask for (sparse kernels, folded bias)."""
        return self.add_array("filter", "int8_t", np.ascontiguousarray(values, np.int8).reshape(-1), "weights")

    def add_array(self, suffix: str, ctype: str, values, kind: str) -> str:
        name = f"{self.name}_{suffix}"
        self.arrays.append(CArray(name, ctype, np.ascontiguousarray(values), kind))
        return name

    # -- the interface ---------------------------------------------------------------
    @classmethod
    def fold(cls, op: Operator, graph: Graph) -> list[np.ndarray] | None:
        """The operator's output values when they are known at code generation (all inputs
        constant, or only static shapes read), one array per output; None to emit code."""
        return None

    @abstractmethod
    def prepare(self) -> None:
        """Validate the operator and compute everything the kernel call needs."""

    def macs(self) -> int:
        return 0

    def weight_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    def scratch_bytes(self) -> int:
        return self.format_scratch

    def manifest_fields(self) -> dict:
        """Extra per-layer facts for manifest.json (e.g. the kernel variant chosen)."""
        return {}

    @property
    def activation_inputs(self) -> list[Tensor]:
        """Inputs that live in RAM (the planner's view)."""
        return [self.graph.tensors[i] for i in self.op.inputs if i >= 0 and not self.graph.tensors[i].is_constant]


def make_emitter(op: Operator, graph: Graph, options) -> OpEmitter:
    cls = EMITTERS.get(op.opcode)
    if cls is None:
        raise UnsupportedOpError(
            f"operator {op.index} is {op.opcode}, which the code generator does not support "
            f"(supported: {', '.join(sorted(EMITTERS))})")
    return cls(op, graph, options)


def same_padding(in_size: int, k: int, stride: int, dilation: int, out_size: int) -> int:
    eff = (k - 1) * dilation + 1
    return max((out_size - 1) * stride + eff - in_size, 0) // 2


def expected_out_size(padding: str, in_size: int, k: int, stride: int, dilation: int) -> int:
    eff = (k - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size - eff + stride) // stride


PADDINGS = {0: "SAME", 1: "VALID"}



def _register_builtin_emitters() -> None:
    # Every module of this package registers its emitters on import; a new op is a new module.
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_register_builtin_emitters()
