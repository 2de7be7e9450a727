"""Per-lane register layout of the int8 tensor-core instructions, and their emulation.

``mma.sp.sync.aligned.m16n8k{32,64}.row.col.s32.s8.s8.s32`` (2:4 sparse A) and
``mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32`` (dense A): what each of the 32 lanes of a warp
holds, built for every tile of a GEMM at once, and an emulator of each instruction that takes
exactly those registers (A, metadata, B, C) and returns the lanes' D registers. The emulated
GEMM (``gemm_sparse``/``gemm_dense``) issues one instruction per (16, 8, k) tile along K, all
(M, N) tiles of a K step at once, accumulating in int32 with wrap-around like the hardware.

``g = lane >> 2`` (groupID), ``t = lane & 3`` (threadID_in_group). Sources: PTX ISA 9.x,
§9.7.14.5 (dense ``mma.m16n8k32`` fragments) and §9.7.14.6.2 ("Matrix fragments for sparse
mma.m16n8k32 / m16n8k64 with .u8/.s8"):
- sparse A: register r holds four kept values of the eight dense columns ``8t..8t+7``
  (+32 for r = 2, 3 of k64), row ``g`` (r even) or ``g + 8`` (r odd);
- dense A (k32): register r holds columns ``4t..4t+3`` (+16 for r = 2, 3), row ``g`` / ``g + 8``;
- B: register q holds ``k = 16q + 4t .. +3`` of column ``n = g`` (q < 2 for k32, < 4 for k64);
- C, D: registers 0, 1 = row ``g``, columns ``2t``, ``2t + 1``; registers 2, 3 = row ``g + 8``;
- metadata: one .b32 per participating lane = one row of 32 dense columns (``format.py``); in
  each quad the lanes ``2·selector`` and ``2·selector + 1`` hold rows ``g`` and ``g + 8`` (k32,
  selector 0 or 1); for k64 (selector 0) lanes 2 and 3 hold the same rows for columns 32..63.
  The ISA draws this assignment only in figures; we first derived it from CUTLASS's
  ``reorder_meta`` (as re-implemented in PyTorch's ``_semi_structured_conversions.py``).
Every one of these layouts was checked on an NVIDIA H200 (sm_90): the registers built here, fed
unchanged to inline-PTX ``mma.sp`` (k32 selectors 0 and 1, k64), gave accumulators equal to
this emulation on random 2:4 matrices and on whole 2:4 model layers with real activations.

Bytes inside a register are little-endian: the lowest byte is the lowest row/column index.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import ModelError
from .format import GROUP, TILE_K, Compressed24

LANES = 32
TILE_M = 16
TILE_N = 8
VALID_PAD_WORD = 0x44444444   # every group "positions 0 and 1": a valid nibble for padding rows/words


@dataclass(frozen=True)
class Shape:
    name: str
    k: int                 # dense K of one instruction
    a_regs: int            # .b32 registers of compressed A per lane
    b_regs: int            # .b32 registers of B per lane
    selectors: tuple       # allowed sparsity-selector values


SHAPES = {"m16n8k32": Shape("m16n8k32", 32, 2, 2, (0, 1)), "m16n8k64": Shape("m16n8k64", 64, 4, 4, (0,))}
DENSE = Shape("m16n8k32", 32, 4, 2, ())        # mma.sync m16n8k32 s8: A 4 registers, B 2


def shape(name: str) -> Shape:
    if name not in SHAPES:
        raise ModelError(f"unknown sparse MMA shape {name!r}; choose from {', '.join(SHAPES)}")
    return SHAPES[name]


def _checked_selector(sh: Shape, selector: int) -> None:
    if selector not in sh.selectors:
        raise ModelError(f"{sh.name}: sparsity selector must be one of {sh.selectors}, got {selector}")


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement int32 wrap-around of integer values (the tensor core's s32 adder)."""
    return np.asarray(x, np.int64).astype(np.int32)


def pack(b: np.ndarray) -> np.ndarray:
    """int8 ``[..., 4]`` → uint32 ``[...]`` (byte 0 lowest)."""
    return np.ascontiguousarray(b, dtype=np.int8).view("<u4")[..., 0]


def unpack(r: np.ndarray) -> np.ndarray:
    """uint32 ``[...]`` → int8 ``[..., 4]``."""
    return np.ascontiguousarray(r, dtype="<u4")[..., None].view(np.int8)


def _lanes():
    lane = np.arange(LANES)
    return lane >> 2, lane & 3


# ---- index tables: (lane, register, byte) -> (row, column) -------------------------------------

@lru_cache(maxsize=None)
def _sparse_a_index(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and compressed columns ``[32, regs, 4]`` of the sparse A registers."""
    g, t = _lanes()
    regs = k // 16
    r = np.arange(regs)
    rows = g[:, None, None] + 8 * (r % 2)[None, :, None] + np.zeros((1, 1, 4), int)
    cols = 4 * t[:, None, None] + 16 * (r // 2)[None, :, None] + np.arange(4)[None, None, :]
    return rows, cols


@lru_cache(maxsize=None)
def _dense_a_index() -> tuple[np.ndarray, np.ndarray]:
    """Rows and dense columns ``[32, 4, 4]`` of the dense m16n8k32 A registers."""
    g, t = _lanes()
    r = np.arange(4)
    rows = g[:, None, None] + 8 * (r % 2)[None, :, None] + np.zeros((1, 1, 4), int)
    cols = 4 * t[:, None, None] + 16 * (r // 2)[None, :, None] + np.arange(4)[None, None, :]
    return rows, cols


@lru_cache(maxsize=None)
def _b_index(k: int) -> tuple[np.ndarray, np.ndarray]:
    """K rows and N columns ``[32, k/16, 4]`` of the B registers."""
    g, t = _lanes()
    q = np.arange(k // 16)
    ks = 16 * q[None, :, None] + 4 * t[:, None, None] + np.arange(4)[None, None, :]
    ns = g[:, None, None] + np.zeros((1, k // 16, 4), int)
    return ks, ns


@lru_cache(maxsize=None)
def _cd_index() -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns ``[32, 4]`` of the C/D registers."""
    g, t = _lanes()
    r = np.arange(4)
    return g[:, None] + 8 * (r // 2)[None, :], 2 * t[:, None] + (r % 2)[None, :]


@lru_cache(maxsize=None)
def _meta_index(k: int, selector: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lanes, rows, words within the tile) of the lanes that supply metadata."""
    lanes, rows, words = [], [], []
    for lane in range(LANES):
        g, t = lane >> 2, lane & 3
        if k == TILE_K:
            if t // 2 != selector:
                continue
            lanes.append(lane), rows.append(g + 8 * (t % 2)), words.append(0)
        else:
            lanes.append(lane), rows.append(g + 8 * (t % 2)), words.append(t // 2)
    return np.array(lanes), np.array(rows), np.array(words)


# ---- operands of a whole GEMM, lane by lane -----------------------------------------------------

def tiles(m: int, k: int, n: int, k_step: int) -> tuple[int, int, int]:
    """(M tiles of 16, K steps of ``k_step``, N tiles of 8)."""
    return -(-m // TILE_M), max(1, -(-k // k_step)), -(-n // TILE_N)


def sparse_a_fragments(c: Compressed24, shape_name: str = "m16n8k32",
                       selector: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A registers ``[TM, TK, 32, a_regs]`` and metadata registers ``[TM, TK, 32]`` (uint32).

    Rows beyond M read as zeros (with a valid metadata nibble); K is padded to the shape's k.
    Lanes that supply no metadata for the selector hold 0.
    """
    sh = shape(shape_name)
    _checked_selector(sh, selector)
    tm, tk, _ = tiles(c.m, c.k_padded, 1, sh.k)
    vals = np.zeros((tm * TILE_M, tk * sh.k // 2), np.int8)
    vals[: c.m, : c.values.shape[1]] = c.values
    meta = np.full((tm * TILE_M, tk * sh.k // TILE_K), VALID_PAD_WORD, np.uint32)
    meta[: c.m, : c.metadata.shape[1]] = c.metadata
    v = vals.reshape(tm, TILE_M, tk, sh.k // 2).transpose(0, 2, 1, 3)            # [TM, TK, 16, k/2]
    rows, cols = _sparse_a_index(sh.k)
    a = pack(v[:, :, rows, cols])                                               # [TM, TK, 32, regs]
    w = meta.reshape(tm, TILE_M, tk, sh.k // TILE_K).transpose(0, 2, 1, 3)       # [TM, TK, 16, words]
    lanes, mrows, mwords = _meta_index(sh.k, selector)
    e = np.zeros((tm, tk, LANES), np.uint32)
    e[:, :, lanes] = w[:, :, mrows, mwords]
    return a, e


def dense_a_fragments(w: np.ndarray) -> np.ndarray:
    """A registers ``[TM, TK, 32, 4]`` of ``mma.sync.m16n8k32`` for a dense int8 ``[M, K]``."""
    w = np.asarray(w, np.int8)
    tm, tk, _ = tiles(w.shape[0], w.shape[1], 1, DENSE.k)
    p = np.zeros((tm * TILE_M, tk * DENSE.k), np.int8)
    p[: w.shape[0], : w.shape[1]] = w
    t = p.reshape(tm, TILE_M, tk, DENSE.k).transpose(0, 2, 1, 3)
    rows, cols = _dense_a_index()
    return pack(t[:, :, rows, cols])


def b_fragments(b: np.ndarray, k_step: int) -> np.ndarray:
    """B registers ``[TK, TN, 32, k_step/16]`` of an int8 ``[K, N]``; padding reads as 0."""
    b = np.asarray(b, np.int8)
    _, tk, tn = tiles(1, b.shape[0], b.shape[1], k_step)
    p = np.zeros((tk * k_step, tn * TILE_N), np.int8)
    p[: b.shape[0], : b.shape[1]] = b
    t = p.reshape(tk, k_step, tn, TILE_N).transpose(0, 2, 1, 3)                  # [TK, TN, k, 8]
    ks, ns = _b_index(k_step)
    return pack(t[:, :, ks, ns])


def cd_fragments(acc: np.ndarray) -> np.ndarray:
    """C registers ``[TM, TN, 32, 4]`` (int32) of an ``[M, N]`` accumulator; padding is 0."""
    acc = np.asarray(acc)
    tm, _, tn = tiles(acc.shape[0], 1, acc.shape[1], 1)
    p = np.zeros((tm * TILE_M, tn * TILE_N), np.int32)
    p[: acc.shape[0], : acc.shape[1]] = wrap32(acc)
    t = p.reshape(tm, TILE_M, tn, TILE_N).transpose(0, 2, 1, 3)
    rows, cols = _cd_index()
    return t[:, :, rows, cols]


def cd_matrix(d: np.ndarray, m: int, n: int) -> np.ndarray:
    """``[M, N]`` int32 from D registers ``[TM, TN, 32, 4]``."""
    tm, tn = d.shape[:2]
    t = np.zeros((tm, tn, TILE_M, TILE_N), np.int32)
    rows, cols = _cd_index()
    t[:, :, rows, cols] = d
    return t.transpose(0, 2, 1, 3).reshape(tm * TILE_M, tn * TILE_N)[:m, :n]


# ---- the instructions ---------------------------------------------------------------------------

def sparse_a_matrix(a: np.ndarray, e: np.ndarray, shape_name: str = "m16n8k32", selector: int = 0) -> np.ndarray:
    """The dense ``[..., 16, k]`` A the instruction sees, rebuilt from A and metadata registers only."""
    sh = shape(shape_name)
    _checked_selector(sh, selector)
    lead = a.shape[:-2]
    vals = np.zeros(lead + (TILE_M, sh.k // 2), np.int64)
    rows, cols = _sparse_a_index(sh.k)
    vals[..., rows, cols] = unpack(a)
    words = np.zeros(lead + (TILE_M, sh.k // TILE_K), np.uint32)
    lanes, mrows, mwords = _meta_index(sh.k, selector)
    words[..., mrows, mwords] = e[..., lanes]
    j = np.arange(sh.k // 2)                                   # compressed column
    pos = (words[..., j // 16] >> (2 * (j % 16)).astype(np.uint32)) & 3
    dense_cols = (GROUP * (j // 2) + pos).astype(np.int64)
    out = np.zeros(lead + (TILE_M, sh.k), np.int64)
    np.put_along_axis(out, dense_cols, vals, axis=-1)
    return out


def _b_matrix(b: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(b.shape[:-2] + (k, TILE_N), np.int64)
    ks, ns = _b_index(k)
    out[..., ks, ns] = unpack(b)
    return out


def _cd(c: np.ndarray) -> np.ndarray:
    out = np.zeros(c.shape[:-2] + (TILE_M, TILE_N), np.int64)
    rows, cols = _cd_index()
    out[..., rows, cols] = c
    return out


def _mma(a_dense: np.ndarray, b: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    # int8 x int8 products summed over k <= 64 stay below 2^21: exact in float64, so BLAS may do
    # the multiply; the int32 accumulate then wraps like the hardware's.
    prod = np.matmul(a_dense.astype(np.float64), _b_matrix(b, k).astype(np.float64)).astype(np.int64)
    d = wrap32(prod + _cd(c))
    rows, cols = _cd_index()
    return d[..., rows, cols]


def mma_sp(a: np.ndarray, e: np.ndarray, b: np.ndarray, c: np.ndarray, shape_name: str = "m16n8k32",
           selector: int = 0) -> np.ndarray:
    """``mma.sp`` for one warp or a batch of warps (leading dimensions broadcast).

    ``a`` A registers ``[..., 32, a_regs]``, ``e`` metadata ``[..., 32]``, ``b`` B registers
    ``[..., 32, b_regs]``, ``c`` C registers ``[..., 32, 4]`` int32 → D registers ``[..., 32, 4]``.
    """
    sh = shape(shape_name)
    return _mma(sparse_a_matrix(a, e, shape_name, selector), b, c, sh.k)


def mma_dense(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``mma.sync.m16n8k32`` s8: A registers ``[..., 32, 4]``, B ``[..., 32, 2]``, C ``[..., 32, 4]``."""
    a_dense = np.zeros(a.shape[:-2] + (TILE_M, DENSE.k), np.int64)
    rows, cols = _dense_a_index()
    a_dense[..., rows, cols] = unpack(a)
    return _mma(a_dense, b, c, DENSE.k)


# ---- whole GEMMs ----------------------------------------------------------------------------------

def sparse_operands(c: Compressed24, b: np.ndarray, acc0: np.ndarray | None = None, shape_name: str = "m16n8k32",
                    selector: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every lane's registers of a sparse GEMM: A ``[TM, TK, 32, r]``, metadata ``[TM, TK, 32]``,
    B ``[TK, TN, 32, q]``, C ``[TM, TN, 32, 4]`` — what a warp-per-tile kernel loads."""
    sh = shape(shape_name)
    a, e = sparse_a_fragments(c, shape_name, selector)
    bf = b_fragments(_k_padded(b, a.shape[1] * sh.k), sh.k)
    cf = cd_fragments(acc0 if acc0 is not None else np.zeros((c.m, b.shape[1]), np.int32))
    return a, e, bf, cf


def dense_operands(w: np.ndarray, b: np.ndarray,
                   acc0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``[TM, TK, 32, 4]``, B ``[TK, TN, 32, 2]``, C ``[TM, TN, 32, 4]`` of a dense m16n8k32 GEMM."""
    a = dense_a_fragments(w)
    bf = b_fragments(_k_padded(b, a.shape[1] * DENSE.k), DENSE.k)
    cf = cd_fragments(acc0 if acc0 is not None else np.zeros((w.shape[0], b.shape[1]), np.int32))
    return a, bf, cf


def run_sparse_tiles(a: np.ndarray, e: np.ndarray, bf: np.ndarray, cf: np.ndarray, shape_name: str = "m16n8k32",
                     selector: int = 0) -> np.ndarray:
    """D registers ``[TM, TN, 32, 4]``: per K step one ``mma_sp`` on every (M, N) tile."""
    d = cf
    for step in range(a.shape[1]):
        d = mma_sp(a[:, step, None], e[:, step, None], bf[None, step], d, shape_name, selector)
    return d


def run_dense_tiles(a: np.ndarray, bf: np.ndarray, cf: np.ndarray) -> np.ndarray:
    d = cf
    for step in range(a.shape[1]):
        d = mma_dense(a[:, step, None], bf[None, step], d)
    return d


def gemm_sparse(c: Compressed24, b: np.ndarray, acc0: np.ndarray | None = None, shape_name: str = "m16n8k32",
                selector: int = 0) -> np.ndarray:
    """``[M, N]`` int32 = wrap(A·B + acc0), one ``mma_sp`` per (16, 8, k) tile, K step by K step."""
    ops = sparse_operands(c, b, acc0, shape_name, selector)
    return cd_matrix(run_sparse_tiles(*ops, shape_name, selector), c.m, b.shape[1])


def gemm_dense(w: np.ndarray, b: np.ndarray, acc0: np.ndarray | None = None) -> np.ndarray:
    """``[M, N]`` int32 = wrap(W·B + acc0), one dense ``mma.sync.m16n8k32`` per tile, K step by K step."""
    return cd_matrix(run_dense_tiles(*dense_operands(w, b, acc0)), w.shape[0], b.shape[1])


def _k_padded(b: np.ndarray, k: int) -> np.ndarray:
    if b.shape[0] >= k:
        return b
    return np.concatenate([b, np.zeros((k - b.shape[0], b.shape[1]), b.dtype)])


# ---- one tile (the unit the hardware check and the hand-worked tests use) ------------------------

def lane_operands(c: Compressed24, tile_m: int, tile_k: int, shape_name: str = "m16n8k32",
                  selector: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A registers ``[32, a_regs]`` and metadata register ``[32]`` (uint32) of one tile."""
    a, e = sparse_a_fragments(c, shape_name, selector)
    return a[tile_m, tile_k], e[tile_m, tile_k]


def tiled_gemm(c: Compressed24, b: np.ndarray, shape_name: str = "m16n8k32", selector: int = 0) -> np.ndarray:
    """The whole ``[M, N]`` product through ``mma_sp`` (int32, wrapping)."""
    return gemm_sparse(c, b, None, shape_name, selector)
