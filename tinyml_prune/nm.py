"""N:M structured sparsity, once: at most N nonzeros in every group of M consecutive weights.

Groups run along the last axis of a weight array (TFLite's contiguous input-channel axis,
where tfmot's 2:4 and the kernels put them); every leading axis is a row. A row whose length
is not a multiple of M ends in a short group, padded with zeros. Everyone who checks, prunes
or compresses N:M weights uses these functions: the pruner's masker, the code generator's
weight format, the Ampere 2:4 path and the quantization check.
"""
from __future__ import annotations

import numpy as np


def groups(w: np.ndarray, m: int) -> np.ndarray:
    """``w`` as ``[rows, groups, m]`` along its last axis, the last group zero-padded."""
    w = np.asarray(w)
    flat = w.reshape(-1, w.shape[-1]) if w.ndim else w.reshape(1, 1)
    rows, cols = flat.shape
    g = -(-cols // m)
    if g * m == cols:
        return flat.reshape(rows, g, m)
    padded = np.zeros((rows, g * m), flat.dtype)
    padded[:, :cols] = flat
    return padded.reshape(rows, g, m)


def counts(w: np.ndarray, m: int) -> np.ndarray:
    """Nonzeros per group, ``[rows, groups]``."""
    return np.count_nonzero(groups(w, m), axis=2)


def violations(w: np.ndarray, n: int, m: int, limit: int | None = 5) -> list[tuple[int, int, int]]:
    """Up to ``limit`` (row, group, nonzeros) whose group holds more than ``n`` nonzeros."""
    c = counts(w, m)
    rows, grp = np.nonzero(c > n)
    if limit is not None:
        rows, grp = rows[:limit], grp[:limit]
    return [(int(r), int(g), int(c[r, g])) for r, g in zip(rows, grp)]


def satisfies(w: np.ndarray, n: int, m: int, whole_groups: bool = False) -> bool:
    """Every group holds at most ``n`` nonzeros; ``whole_groups``: and the rows split into whole groups."""
    w = np.asarray(w)
    if whole_groups and w.shape[-1] % m:
        return False
    return bool((counts(w, m) <= n).all())


def tightest(w: np.ndarray, sizes=(4, 8)) -> tuple[int, int] | None:
    """The sparsest N:M (M among ``sizes``, dividing the last axis, N < M) that ``w`` satisfies."""
    best = None
    for m in sizes:
        if np.shape(w)[-1] % m:
            continue
        n = int(counts(w, m).max(initial=0))
        if n < m and (best is None or n / m < best[0] / best[1]):
            best = (n, m)
    return best


def prune(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep the ``n`` largest-magnitude values of every group of ``m`` along the last axis.

    Ties go to the lower position; the dtype and shape are kept.
    """
    w = np.asarray(w)
    g = groups(w, m)
    order = np.argsort(-np.abs(g.astype(np.float64)), axis=-1, kind="stable")
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, order[..., :n], True, axis=-1)
    out = np.where(keep, g, 0).reshape(g.shape[0], -1)[:, : w.shape[-1]]
    return out.astype(w.dtype).reshape(w.shape)


def kept_positions(nonzero: np.ndarray, n: int) -> np.ndarray:
    """``n`` distinct ascending positions per group: the nonzeros first, then the lowest free ones."""
    first = np.argsort(~np.asarray(nonzero, bool), axis=-1, kind="stable")[..., :n]
    return np.sort(first, axis=-1).astype(np.int64)


def compress(w: np.ndarray, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(values, positions)``, both ``[rows, groups, n]``: the kept values and their positions.

    The caller has checked ``satisfies`` (a group with more than ``n`` nonzeros loses some);
    a group with fewer keeps stored zeros at the lowest free positions. The bit packing of the
    positions belongs to each format.
    """
    g = groups(w, m)
    pos = kept_positions(g != 0, n)
    return np.take_along_axis(g, pos, axis=2), pos


def decompress(values: np.ndarray, positions: np.ndarray, m: int, cols: int) -> np.ndarray:
    """The dense ``[rows, cols]`` matrix back from ``compress``'s output."""
    rows, ngroups, _ = values.shape
    g = np.zeros((rows, ngroups, m), values.dtype)
    np.put_along_axis(g, positions, values, axis=2)
    return g.reshape(rows, -1)[:, :cols]


def refusal(channels: int, m: int) -> str | None:
    """Why a layer with ``channels`` input channels cannot be grouped by ``m`` (None: it can)."""
    if channels < m:
        return f"input channels {channels} < M={m}"
    if channels % m:
        return f"input channels {channels} not divisible by M={m}"
    return None
