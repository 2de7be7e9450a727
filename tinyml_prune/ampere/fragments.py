"""Per-lane register layout of ``mma.sp.sync.aligned.m16n8k{32,64}.row.col.s32.s8.s8.s32``.

What each of the 32 lanes of a warp holds for one 16-row tile of the compressed operand A and
its metadata, and an emulator of the instruction that rebuilds A only from those registers.

Sources (PTX ISA 9.x, section 9.7.14.6.2, "Matrix fragments for sparse mma.m16n8k32 / m16n8k64
with .u8/.s8"): ``groupID = laneid >> 2``, ``threadID_in_group = laneid % 4``; an A register
holds four kept values out of eight consecutive dense columns, row ``groupID`` (registers 0, 2)
or ``groupID + 8`` (registers 1, 3), dense columns ``threadID_in_group*8 .. +7`` (+32 for
registers 2, 3 of k64). Metadata: one .b32 per participating lane = eight 4-bit groups, i.e. one
row of 32 dense columns. Which lane holds which row is drawn in the ISA's figures (not text);
we follow CUTLASS's ``reorder_meta`` (rows ``g`` and ``g+8`` interleaved, column pairs swizzled,
as re-implemented in PyTorch's ``_semi_structured_conversions.py``): in each quad, the lanes
``2*selector`` and ``2*selector + 1`` hold rows ``g`` and ``g+8`` of the first 32 columns (k32,
selector 0 or 1); for k64 (selector 0) lanes 2 and 3 hold the same rows for columns 32..63.
This lane mapping is not checked on hardware here (no GPU); the row/column content of every
word is exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from .format import TILE_K, Compressed24, columns

LANES = 32
TILE_M = 16
TILE_N = 8


@dataclass(frozen=True)
class Shape:
    k: int                 # dense K of one instruction
    a_regs: int            # .b32 registers of A per lane
    selectors: tuple       # allowed sparsity-selector values


SHAPES = {"m16n8k32": Shape(32, 2, (0, 1)), "m16n8k64": Shape(64, 4, (0,))}


def _shape(name: str) -> Shape:
    if name not in SHAPES:
        raise ModelError(f"unknown sparse MMA shape {name!r}; choose from {', '.join(SHAPES)}")
    return SHAPES[name]


def _a_slot(reg: int) -> tuple[int, int]:
    """(row offset 0/8, dense column offset 0/32) of A register ``reg``."""
    return 8 * (reg % 2), TILE_K * (reg // 2)


def _meta_slot(lane_in_quad: int, selector: int, shape: Shape) -> tuple[int, int] | None:
    """(row offset, metadata word within the tile) a lane supplies, or None."""
    if shape.k == 32:
        if lane_in_quad // 2 != selector:
            return None
        return 8 * (lane_in_quad % 2), 0
    return 8 * (lane_in_quad % 2), lane_in_quad // 2


def lane_operands(c: Compressed24, tile_m: int, tile_k: int, shape: str = "m16n8k32",
                  selector: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A registers ``[32, a_regs]`` and metadata register ``[32]`` (uint32) of one tile.

    ``tile_m``/``tile_k`` count 16-row and k-wide tiles; rows beyond M read as zeros.
    """
    sh = _shape(shape)
    if selector not in sh.selectors:
        raise ModelError(f"{shape}: sparsity selector must be one of {sh.selectors}, got {selector}")
    vals, meta = _padded_rows(c)
    a = np.zeros((LANES, sh.a_regs), dtype=np.uint32)
    e = np.zeros(LANES, dtype=np.uint32)
    r0, w0 = tile_m * TILE_M, tile_k * sh.k // TILE_K
    for lane in range(LANES):
        g, t = lane >> 2, lane & 3
        for reg in range(sh.a_regs):
            dr, dc = _a_slot(reg)
            start = (tile_k * sh.k + dc + 8 * t) // 2          # compressed column
            a[lane, reg] = np.frombuffer(vals[r0 + g + dr, start:start + 4].tobytes(), "<u4")[0]
        slot = _meta_slot(t, selector, sh)
        if slot is not None:
            dr, dw = slot
            e[lane] = meta[r0 + g + dr, w0 + dw]
    return a, e


def mma_sp(a: np.ndarray, e: np.ndarray, b: np.ndarray, c: np.ndarray, shape: str = "m16n8k32",
           selector: int = 0) -> np.ndarray:
    """D = A·B + C for one warp, A rebuilt from the lanes' registers and metadata alone.

    ``b`` is the dense ``[k, 8]`` int8 tile, ``c`` the ``[16, 8]`` int32 accumulator.
    """
    sh = _shape(shape)
    dense_a = np.zeros((TILE_M, sh.k), dtype=np.int64)
    words = np.zeros((TILE_M, sh.k // TILE_K), dtype=np.uint32)
    for lane in range(LANES):
        slot = _meta_slot(lane & 3, selector, sh)
        if slot is not None:
            words[(lane >> 2) + slot[0], slot[1]] = e[lane]
    cols = columns(words)                                   # [16, k/2] dense column per value
    for lane in range(LANES):
        g, t = lane >> 2, lane & 3
        for reg in range(sh.a_regs):
            dr, dc = _a_slot(reg)
            kept = np.frombuffer(np.uint32(a[lane, reg]).tobytes(), np.int8)
            start = (dc + 8 * t) // 2
            dense_a[g + dr, cols[g + dr, start:start + 4]] = kept
    return dense_a @ b.astype(np.int64) + c.astype(np.int64)


def tiled_gemm(c: Compressed24, b: np.ndarray, shape: str = "m16n8k32", selector: int = 0) -> np.ndarray:
    """The whole ``[M, N]`` product issued as one ``mma_sp`` per (16, 8, k) tile (slow; for tests)."""
    sh = _shape(shape)
    m, n = c.m, b.shape[1]
    kp = -(-c.k_padded // sh.k) * sh.k
    bp = np.zeros((kp, -(-n // TILE_N) * TILE_N), dtype=np.int64)
    bp[: b.shape[0], :n] = b
    mt = -(-m // TILE_M)
    out = np.zeros((mt * TILE_M, bp.shape[1]), dtype=np.int64)
    for tm in range(mt):
        for tk in range(kp // sh.k):
            a_regs, e = lane_operands(c, tm, tk, shape, selector)
            for tn in range(bp.shape[1] // TILE_N):
                rows, cols_ = slice(tm * TILE_M, (tm + 1) * TILE_M), slice(tn * TILE_N, (tn + 1) * TILE_N)
                out[rows, cols_] = mma_sp(a_regs, e, bp[tk * sh.k:(tk + 1) * sh.k, cols_], out[rows, cols_],
                                          shape, selector)
    return out[:m, :n]


def _padded_rows(c: Compressed24) -> tuple[np.ndarray, np.ndarray]:
    """Values/metadata with rows padded to 16 and K padded to 64 (so k64 tiles exist)."""
    m = -(-c.m // TILE_M) * TILE_M
    words = -(-c.metadata.shape[1] // 2) * 2
    vals = np.zeros((m, words * TILE_K // 2), dtype=np.int8)
    vals[: c.m, : c.values.shape[1]] = c.values
    # Padding groups carry the valid "positions 0 and 1" nibble (0x4) rather than 0.
    meta = np.full((m, words), 0x44444444, dtype=np.uint32)
    meta[: c.m, : c.metadata.shape[1]] = c.metadata
    return vals, meta
