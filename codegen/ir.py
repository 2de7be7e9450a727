"""The code generator's view of a model: tensors, operators, one subgraph.

Built from the TFLite flatbuffer by :mod:`.tflite_reader`; every later stage (op emitters,
memory planner, templates) reads only this.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Quantization:
    scale: np.ndarray  # float32, one entry per tensor or per channel
    zero_point: np.ndarray  # int64, same length
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "int8", "int32", "float32", ...
    quant: Quantization | None
    data: np.ndarray | None = None  # constant tensors only

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def scale(self) -> float:
        """The per-tensor scale (first entry) as a float32-rounded Python float."""
        return float(self.quant.scale[0])

    @property
    def zero_point(self) -> int:
        return int(self.quant.zero_point[0])


@dataclass
class Operator:
    index: int
    opcode: str  # TFLite BuiltinOperator name, e.g. "CONV_2D"
    inputs: tuple[int, ...]  # tensor indices, -1 = absent optional input
    outputs: tuple[int, ...]
    options: Any = None  # the schema's *OptionsT object, or None
    # Attributes a graph rewrite gave the operator beyond its TFLite options, e.g.
    # "explicit_padding": ((top, bottom), (left, right)) after a PAD was fused into it.
    attrs: dict = field(default_factory=dict)


@dataclass
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    sha256: str
    description: str = ""
    extra: dict = field(default_factory=dict)

    def tensor(self, index: int) -> Tensor | None:
        return None if index < 0 else self.tensors[index]

    @property
    def input(self) -> Tensor:
        return self.tensors[self.inputs[0]]

    @property
    def output(self) -> Tensor:
        return self.tensors[self.outputs[0]]
