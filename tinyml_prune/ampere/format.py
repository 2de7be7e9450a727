"""NVIDIA 2:4 structured sparsity: the compressed operand A of ``mma.sp`` for int8.

A dense int8 matrix ``[M, K]`` (rows = output channels, K = the reduction axis) is stored as
- ``values``   int8  ``[M, K/2]``: per row, the two kept values of every group of four
  consecutive elements, in column order;
- ``metadata`` uint32 ``[M, K/32]``: per kept value its 2-bit position in its group of four.
  One group is one 4-bit nibble (low 2 bits = position of the first kept value, high 2 bits =
  position of the second; the first is always the lower position), and group ``j`` of a
  32-column block sits in bits ``4j..4j+3`` of that block's word — so one 32-bit word is the
  metadata of one row of one ``mma.sp.m16n8k32`` int8 tile (PTX ISA 9.7.14.6: "a .b32 register
  containing 16 2-bit vectors with each pair storing the indices of two non-zero elements from
  a 4-wide chunk of matrix A"). The per-lane distribution of these words is in ``fragments.py``.

K is padded with zeros to a multiple of 32 (one k32 tile). A group with fewer than two non-zeros
still needs two distinct positions (the ISA rejects 0b0000/0b0101/0b1010/0b1111): the unused
slots take the lowest free positions and hold a stored zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nm
from ..errors import ModelError

GROUP = 4          # elements per group (the "4" of 2:4)
KEEP = 2           # kept values per group
TILE_K = 32        # dense columns covered by one 32-bit metadata word (int8, m16n8k32)
GROUPS_PER_WORD = TILE_K // GROUP
INVALID_NIBBLES = (0b0000, 0b0101, 0b1010, 0b1111)


class NotTwoFourError(ModelError):
    """A weight tensor has more than two non-zeros in some group of four."""


@dataclass(frozen=True)
class Compressed24:
    """A 2:4 operand in the ``mma.sp`` format; ``k`` is the unpadded dense width."""

    values: np.ndarray     # int8  [M, K_pad/2]
    metadata: np.ndarray   # uint32 [M, K_pad/32]
    k: int

    @property
    def m(self) -> int:
        return self.values.shape[0]

    @property
    def k_padded(self) -> int:
        return self.values.shape[1] * 2

    def nbytes(self) -> dict:
        """Storage of the compressed operand vs the dense int8 matrix (unpadded)."""
        return {
            "values": int(self.values.nbytes),
            "metadata": int(self.metadata.nbytes),
            "total": int(self.values.nbytes + self.metadata.nbytes),
            "dense": int(self.m * self.k),
        }


def pad_k(k: int) -> int:
    return -(-k // TILE_K) * TILE_K


def violations(dense: np.ndarray, limit: int = 5) -> list[tuple[int, int, int]]:
    """Up to ``limit`` (row, group, nonzeros) with more than two non-zeros in a group of four."""
    return nm.violations(dense, KEEP, GROUP, limit)


def is_2to4(dense: np.ndarray) -> bool:
    return nm.satisfies(dense, KEEP, GROUP)


def check_2to4(dense: np.ndarray, name: str = "tensor") -> None:
    """Raise `NotTwoFourError` naming the tensor, the first bad rows/groups and their counts."""
    bad = violations(dense)
    if bad:
        where = ", ".join(f"row {r} group {g} (columns {4 * g}..{4 * g + 3}) has {n} non-zeros"
                          for r, g, n in bad)
        total = int((nm.counts(dense, GROUP) > KEEP).sum())
        raise NotTwoFourError(f"{name} is not 2:4 sparse: {total} group(s) of four keep more than two "
                              f"values; first: {where}")


def compress(dense: np.ndarray, name: str = "tensor") -> Compressed24:
    """Compress an int8 ``[M, K]`` matrix that is 2:4 along K (error otherwise)."""
    dense = np.asarray(dense)
    if dense.ndim != 2:
        raise ModelError(f"{name}: the 2:4 operand must be 2-D [rows, K], got shape {dense.shape}")
    if dense.dtype != np.int8:
        raise ModelError(f"{name}: the 2:4 operand must be int8, got {dense.dtype}")
    check_2to4(dense, name)
    m, k = dense.shape
    padded = np.zeros((m, pad_k(k)), np.int8)
    padded[:, :k] = dense
    values, pos = nm.compress(padded, KEEP, GROUP)          # [M, G, 2], positions ascending, distinct
    nibbles = (pos[..., 0] | (pos[..., 1] << 2)).astype(np.uint32)     # [M, G]
    shifts = (4 * np.arange(GROUPS_PER_WORD, dtype=np.uint32))
    words = (nibbles.reshape(m, -1, GROUPS_PER_WORD) << shifts).sum(axis=2, dtype=np.uint64)
    return Compressed24(values=values.reshape(m, -1).astype(np.int8), metadata=words.astype(np.uint32), k=k)


def kept_positions(nonzero: np.ndarray) -> np.ndarray:
    """Two distinct ascending positions per group: the non-zeros first, then the lowest free."""
    return nm.kept_positions(nonzero, KEEP)


def positions(metadata: np.ndarray) -> np.ndarray:
    """Decode metadata words ``[M, W]`` into positions ``[M, 16*W]`` (0..3, per kept value)."""
    md = np.asarray(metadata, dtype=np.uint32)
    shifts = 2 * np.arange(2 * GROUPS_PER_WORD, dtype=np.uint32)
    return ((md[..., None] >> shifts) & 0b11).reshape(md.shape[0], -1).astype(np.int64)


def columns(metadata: np.ndarray) -> np.ndarray:
    """Dense column index of every kept value, ``[M, K_pad/2]``."""
    pos = positions(metadata)
    group_start = GROUP * (np.arange(pos.shape[1]) // KEEP)
    return pos + group_start


def check_metadata(metadata: np.ndarray, name: str = "metadata") -> None:
    """Every nibble must name two distinct positions (the ISA's invalid values are rejected)."""
    pos = positions(metadata).reshape(np.shape(metadata)[0], -1, KEEP)
    bad = np.argwhere(pos[..., 0] >= pos[..., 1])
    if len(bad):
        r, g = bad[0]
        raise ModelError(f"{name}: row {r} group {g} has metadata positions {tuple(pos[r, g])}; "
                         "two distinct ascending positions are required")


def decompress(c: Compressed24) -> np.ndarray:
    """Back to the dense int8 ``[M, K]`` matrix."""
    check_metadata(c.metadata)
    dense = np.zeros((c.m, c.k_padded), dtype=np.int8)
    np.put_along_axis(dense, columns(c.metadata), c.values, axis=1)
    return dense[:, : c.k]


def prune_2to4(dense: np.ndarray) -> np.ndarray:
    """Keep the two largest-magnitude values of every group of four along the last axis.

    Ties go to the lower position; a last short group is padded for the grouping.
    """
    return nm.prune(dense, KEEP, GROUP)
