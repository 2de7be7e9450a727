"""The weight-format extension point: one registered encoder per on-flash layout.

A format turns a layer's int8 weight matrix into the named arrays its kernel reads
(``encode``), turns them back (``decode``, for tests and for checking a choice), and
counts its bytes exactly. Every format sees the weights the same way, as a 2-D matrix
``[rows, cols]``: rows are output channels, cols the TFLite-contiguous patch
(FULLY_CONNECTED ``[out, in]``; CONV_2D ``[Cout, Kh, Kw, Cin]`` → ``Kh·Kw·Cin`` columns).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
import numpy as np

from ...errors import ModelError

# numpy dtype -> the C type the generated weights.c declares for it.
C_TYPES = {
    np.dtype(np.int8): "int8_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.uint16): "uint16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.uint32): "uint32_t",
}


class FormatError(ModelError):
    """Weights that a format cannot encode (e.g. a group with more than N nonzeros for N:M)."""


@dataclass(frozen=True)
class Encoded:
    """A weight matrix in one format: the arrays a kernel reads, plus scalar parameters."""

    format: str
    shape: tuple[int, int]                       # (rows, cols) of the dense matrix
    arrays: dict[str, np.ndarray]                # emitted as const C arrays, in this order
    params: dict[str, int] = field(default_factory=dict)  # emitted as kernel arguments

    @property
    def nbytes(self) -> int:
        """Exact flash bytes of the arrays (what weights.c holds for this matrix)."""
        return int(sum(a.nbytes for a in self.arrays.values()))

    @property
    def nnz(self) -> int:
        return int(self.params.get("nnz", self.shape[0] * self.shape[1]))


class WeightFormat(abc.ABC):
    """Base class for a registered format; subclasses set ``name`` and implement the three."""

    name: str = ""
    #: ops whose weights this format can hold; kernels exist for exactly these.
    ops: frozenset[str] = frozenset()

    def check(self, w: np.ndarray, layer: str = "?") -> None:
        """Raise FormatError naming ``layer`` if ``w`` cannot be encoded."""

    @abc.abstractmethod
    def encode(self, w: np.ndarray, layer: str = "?") -> Encoded:
        """The arrays a kernel of this format reads for weight tensor ``w``."""

    @abc.abstractmethod
    def decode(self, enc: Encoded) -> np.ndarray:
        """The dense ``[rows, cols]`` int8 matrix back from ``enc``."""

    def accepts(self, w: np.ndarray) -> bool:
        try:
            self.check(as_int8_matrix(w))
        except FormatError:
            return False
        return True


_REGISTRY: dict[str, WeightFormat] = {}


def register(cls: type[WeightFormat]) -> type[WeightFormat]:
    """Class decorator: make a format available by its ``name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"weight format name {cls.name!r} is empty or taken")
    _REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> WeightFormat:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise FormatError(f"unknown weight format {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


def as_int8_matrix(w: np.ndarray) -> np.ndarray:
    """The ``[rows, cols]`` view of a TFLite weight tensor (output channels first)."""
    w = np.asarray(w)
    if w.dtype != np.int8:
        raise FormatError(f"weights must be int8, got {w.dtype}")
    if w.ndim < 2:
        raise FormatError(f"weights must have an output-channel axis, got shape {w.shape}")
    return np.ascontiguousarray(w.reshape(w.shape[0], -1))


def index_dtype(max_value: int) -> np.dtype:
    """The narrowest unsigned type that holds ``max_value``."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise FormatError(f"index {max_value} does not fit 32 bits")



def fold_bias(bias: np.ndarray | None, w: np.ndarray, input_offset: int) -> np.ndarray:
    """``bias + input_offset·Σw`` per output channel: what the sparse kernels start from.

    Σ_k w·(x + off) + b = Σ_k w·x + (b + off·Σ_k w): in int32 arithmetic both sides are the
    same number, so the kernels can skip the zero weights and the offset add alike.
    """
    m = as_int8_matrix(w).astype(np.int64)
    b = np.zeros(m.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)
    folded = b + int(input_offset) * m.sum(axis=1)
    if folded.min(initial=0) < np.iinfo(np.int32).min or folded.max(initial=0) > np.iinfo(np.int32).max:
        raise FormatError(f"folded bias {int(np.abs(folded).max())} overflows int32")
    return folded.astype(np.int32)
