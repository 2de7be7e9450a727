"""Layer-wise Optimal Brain Surgeon, in numpy (no Keras here).

A layer computes ``Y = X·W`` with ``X`` the n×d matrix of its inputs (im2col patches for a
convolution, plus a column of ones when it has a bias) and ``W`` the d×k kernel. Pruning it
while keeping its output means minimising, per output column (a "row" of the TFLite kernel),

    E(ŵ) = ‖X·w − X·ŵ‖² = (w − ŵ)ᵀ H (w − ŵ),   H = XᵀX,

subject to ŵ being zero on the pruned set P. The exact minimiser (Hassibi & Stork's OBS for
several weights at once) is

    ŵ = w − H⁻¹[:, P] · (H⁻¹[P, P])⁻¹ · w_P,

with error increase w_Pᵀ (H⁻¹[P, P])⁻¹ w_P; for one weight the saliency is w_q² / [H⁻¹]_qq.

Choosing P is done as SparseGPT does (Frantar & Alistarh 2023, after OBC): the columns of H
are eliminated in order using the upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU), the row of U
at step q being exactly the OBS update direction for weight q once weights < q are fixed;
the mask of each block of ``block`` columns is chosen from the saliencies w²/U_qq² at the
time the block is reached (adaptive mask selection), and updates to later blocks are applied
lazily, one matrix product per block. For N:M, each group of M columns keeps the N with the
largest saliency. After the sweep the kept weights of every row are re-solved exactly on the
final mask (``exact_refit``, the formula above) and each row keeps whichever of
{refit, sweep, masking alone} has the smallest error under the undamped H — so the
reconstruction never increases the error over masking alone.

All of this runs in float64: H of a 576-wide layer on ReLU inputs has a condition number well
beyond float32's reach. A dampening ``λ = percdamp · mean(diag H)`` is added to H; inputs that
are always zero (dead ReLU channels, padding-only positions) get H_qq = 1 and are pruned first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pattern:
    """What may be zeroed in a d×k kernel (rows = input features)."""

    kind: str                 # "unstructured" or "nm"
    zeros: int = 0            # unstructured: total number of weights to zero in the prunable rows
    n: int = 0                # nm: keep n of every m consecutive input features
    m: int = 0

    @classmethod
    def unstructured(cls, zeros: int) -> "Pattern":
        return cls("unstructured", zeros=int(zeros))

    @classmethod
    def n_of_m(cls, n: int, m: int) -> "Pattern":
        return cls("nm", n=int(n), m=int(m))


def damp(H: np.ndarray, percdamp: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(dampened copy of H, boolean mask of dead inputs)."""
    H = np.array(H, dtype=np.float64, copy=True)
    diag = np.diag(H).copy()
    dead = diag <= 0
    mean = float(diag[~dead].mean()) if (~dead).any() else 1.0
    idx = np.flatnonzero(dead)
    H[idx, :] = 0.0
    H[:, idx] = 0.0
    H[idx, idx] = mean
    H[np.diag_indices_from(H)] += percdamp * mean
    return H, dead


def inverse(Hd: np.ndarray) -> np.ndarray:
    """H⁻¹ of a dampened (positive definite) H, through its Cholesky factor."""
    from scipy.linalg import cho_factor, cho_solve

    Hinv = cho_solve(cho_factor(Hd, lower=True), np.eye(len(Hd)))
    return 0.5 * (Hinv + Hinv.T)


def inverse_cholesky_upper(Hinv: np.ndarray) -> np.ndarray:
    """Upper U with H⁻¹ = UᵀU."""
    return np.linalg.cholesky(Hinv).T


def quad_error(H: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Per output column of D (d×k): dᵀ H d."""
    return np.einsum("ik,ik->k", D, H @ D)


def obs_remove(w: np.ndarray, Hinv: np.ndarray, P: np.ndarray) -> np.ndarray:
    """OBS for several weights of one row at once: the optimal ŵ with ŵ[P] = 0 (exact)."""
    P = np.asarray(P, dtype=np.int64)
    if P.size == 0:
        return np.array(w, dtype=np.float64, copy=True)
    wp = w[P]
    delta = Hinv[:, P] @ np.linalg.solve(Hinv[np.ix_(P, P)], wp)
    out = w - delta
    out[P] = 0.0
    return out


def exact_refit(w: np.ndarray, Hd: np.ndarray, Hinv: np.ndarray, pruned: np.ndarray) -> np.ndarray:
    """min (w − ŵ)ᵀ Hd (w − ŵ) s.t. ŵ[pruned] = 0, solved on the smaller of the two sides."""
    P = np.flatnonzero(pruned)
    K = np.flatnonzero(~pruned)
    if P.size <= K.size:
        return obs_remove(w, Hinv, P)
    out = np.zeros_like(w, dtype=np.float64)
    if K.size:
        rhs = Hd[K, :] @ w
        out[K] = np.linalg.solve(Hd[np.ix_(K, K)], rhs)
    return out


def _quotas(total: int, sizes: list[int]) -> list[int]:
    """Split ``total`` over blocks proportionally to ``sizes`` (cumulative rounding: exact sum)."""
    full = float(sum(sizes))
    out, done, acc = [], 0, 0
    for s in sizes:
        acc += s
        target = int(round(total * acc / full)) if full else 0
        out.append(min(target - done, s))
        done += out[-1]
    return out


def sweep(W: np.ndarray, Hd: np.ndarray, pattern: Pattern, protect: np.ndarray | None = None,
          block: int = 128, dead: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """SparseGPT-style pass. W: d×k (input features × outputs). Returns (Ŵ, pruned mask d×k).

    ``protect``: input features never pruned (a bias column); ``dead``: features to prune first.
    """
    W = np.array(W, dtype=np.float64, copy=True)
    d, k = W.shape
    protect = np.zeros(d, bool) if protect is None else np.asarray(protect, bool)
    dead = np.zeros(d, bool) if dead is None else np.asarray(dead, bool)
    U = inverse_cholesky_upper(inverse(Hd))
    pruned = np.zeros((d, k), bool)
    if pattern.kind == "nm":
        block = max(pattern.m, (block // pattern.m) * pattern.m)
    starts = list(range(0, d, block))
    quotas = None
    if pattern.kind == "unstructured":
        sizes = [int((~protect[s:s + block]).sum()) * k for s in starts]
        quotas = _quotas(pattern.zeros, sizes)
    for bi, i1 in enumerate(starts):
        i2 = min(i1 + block, d)
        W1 = W[i1:i2].copy()
        U1 = U[i1:i2, i1:i2]
        E1 = np.zeros_like(W1)
        dg = np.diag(U1)
        if pattern.kind == "unstructured":
            sal = W1 ** 2 / (dg[:, None] ** 2)
            sal[dead[i1:i2]] = -1.0
            sal[protect[i1:i2]] = np.inf
            q = quotas[bi]
            if q > 0:
                flat = np.argsort(sal, axis=None, kind="stable")[:q]
                pruned[i1:i2].flat[flat] = True
        for j in range(i2 - i1):
            col = i1 + j
            if pattern.kind == "nm" and (col % pattern.m) == 0 and not protect[col]:
                g2 = min(j + pattern.m, i2 - i1)
                sal = W1[j:g2] ** 2 / (dg[j:g2, None] ** 2)
                sal[dead[col:col + (g2 - j)]] = -1.0
                order = np.argsort(sal, axis=0, kind="stable")[: pattern.m - pattern.n]
                sub = np.zeros((g2 - j, k), bool)
                np.put_along_axis(sub, order, True, axis=0)
                pruned[col:col + (g2 - j)] = sub
            w = W1[j]
            q = np.where(pruned[col], 0.0, w)
            err = (w - q) / U1[j, j]
            W1[j:] -= np.outer(U1[j, j:], err)
            W1[j] = q
            E1[j] = err
        W[i1:i2] = W1
        if i2 < d:
            W[i2:] -= U[i1:i2, i2:].T @ E1
    W[pruned] = 0.0
    return W, pruned


@dataclass
class LayerResult:
    W: np.ndarray            # d×k reconstructed kernel (zeros on the mask)
    pruned: np.ndarray       # d×k bool
    error: float             # ‖Xw − Xŵ‖² summed over outputs (undamped H)
    mask_error: float        # the same for masking alone
    ref_energy: float        # ‖Xw‖²


def prune_matrix(W: np.ndarray, H: np.ndarray, pattern: Pattern, protect: np.ndarray | None = None,
                 percdamp: float = 0.01, block: int = 128, refit: bool = True) -> LayerResult:
    """OBS-prune W (d×k) against H = XᵀX; see the module docstring."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # many small products: threads only contend
        return _prune_matrix(W, H, pattern, protect, percdamp, block, refit)


def _prune_matrix(W, H, pattern, protect, percdamp, block, refit) -> LayerResult:
    W = np.asarray(W, np.float64)
    H = np.asarray(H, np.float64)
    Hd, dead = damp(H, percdamp)
    Ws, pruned = sweep(W, Hd, pattern, protect, block, dead)
    masked = np.where(pruned, 0.0, W)
    e_mask = quad_error(H, W - masked)
    e_sweep = quad_error(H, W - Ws)
    best, e_best = Ws, e_sweep
    if refit:
        Hinv = inverse(Hd)
        Wr = np.column_stack([exact_refit(W[:, c], Hd, Hinv, pruned[:, c]) for c in range(W.shape[1])])
        Wr[pruned] = 0.0
        e_ref = quad_error(H, W - Wr)
        take = e_ref < e_best
        best = np.where(take[None, :], Wr, best)
        e_best = np.where(take, e_ref, e_best)
    take = e_mask < e_best
    best = np.where(take[None, :], masked, best)
    e_best = np.where(take, e_mask, e_best)
    return LayerResult(best, pruned, float(e_best.sum()), float(e_mask.sum()),
                       float(quad_error(H, W).sum()))


def least_squares(C: np.ndarray, H: np.ndarray, W0: np.ndarray, percdamp: float = 0.01) -> np.ndarray:
    """argmin_W ‖XW − Y‖² + λ‖W − W0‖² from H = XᵀX and C = XᵀY (λ: the dampening above).

    The ridge pulls towards ``W0`` (the current weights), so that W0 is returned unchanged when
    it already solves the problem (C = H·W0)."""
    Hd, dead = damp(H, percdamp)
    W = W0 + np.linalg.solve(Hd, C - H @ W0)
    W[dead] = 0.0
    return W


def allocate(curves: dict[str, tuple[np.ndarray, np.ndarray]], sizes: dict[str, int],
             target: float) -> dict[str, float]:
    """Per-layer sparsities reaching ``target`` of all weights with the least summed error.

    ``curves``: name -> (sparsity grid ascending from 0, relative error at each); greedy on
    the marginal error per removed weight (exact for convex curves), the last step
    interpolated so that the total is met to one weight.
    """
    names = list(curves)
    total = sum(sizes[n] for n in names)
    need = target * total
    pos = {n: 0 for n in names}
    level = {n: 0.0 for n in names}
    removed = 0.0
    while removed < need - 0.5:
        best, best_cost = None, np.inf
        for n in names:
            grid, err = curves[n]
            i = pos[n]
            if i + 1 >= len(grid):
                continue
            dw = (grid[i + 1] - grid[i]) * sizes[n]
            cost = (err[i + 1] - err[i]) / max(dw, 1e-12)
            if cost < best_cost:
                best, best_cost = n, cost
        if best is None:
            break
        grid = curves[best][0]
        i = pos[best]
        dw = (grid[i + 1] - grid[i]) * sizes[best]
        if removed + dw >= need:
            level[best] = grid[i] + (need - removed) / sizes[best]
            removed = need
            break
        pos[best] = i + 1
        level[best] = grid[i + 1]
        removed += dw
    return level
