"""One layer as OBS problems: statistics from calibration activations, pruning, write-back.

A Dense/Conv layer is one problem (d×k kernel, plus a bias row that is never pruned but takes
part in the reconstruction); a DepthwiseConv2D is one problem per channel ([kh·kw (+1)] ×
multiplier). Each problem carries

    H  = XₚᵀXₚ   (inputs from the model being pruned: upstream already pruned)
    Hr = XᵣᵀXᵣ   (inputs from the reference model: the weights before this pruning step)
    G  = XₚᵀXᵣ

so that the error against the reference output, ‖Xᵣ·W − Xₚ·Ŵ‖², is a quadratic form in Ŵ.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layers import is_depthwise, kernel_variable
from .calib import has_bias, kernel_matrix, patches, row_subset, with_ones
from .core import Pattern, _quotas, least_squares, prune_matrix


@dataclass
class Problem:
    H: np.ndarray
    Hr: np.ndarray
    G: np.ndarray
    W: np.ndarray        # d×k reference weights (bias row last when present)
    protect: np.ndarray  # d bool


def _stats(Xp, Xr):
    return Xp.T @ Xp, Xr.T @ Xr, Xp.T @ Xr


def problems(layer, a_p: np.ndarray, a_r: np.ndarray, max_rows: int, seed: int = 0) -> list[Problem]:
    """The layer's OBS problems from its inputs in the pruned (``a_p``) and reference (``a_r``) model."""
    bias = has_bias(layer)
    Pp, Pr = patches(layer, a_p), patches(layer, a_r)
    rows = row_subset(len(Pp), max_rows, seed)
    if rows is not None:
        Pp, Pr = Pp[rows], Pr[rows]
    Pp, Pr = Pp.astype(np.float64), Pr.astype(np.float64)
    K = kernel_matrix(layer)
    b = layer.bias.numpy().astype(np.float64) if bias else None
    out = []
    if is_depthwise(layer):
        t, c, m = K.shape
        for ch in range(c):
            Xp, Xr = Pp[:, :, ch], Pr[:, :, ch]
            W = K[:, ch, :].astype(np.float64)
            if bias:
                Xp, Xr = with_ones(Xp), with_ones(Xr)
                W = np.vstack([W, b[ch * m:(ch + 1) * m][None, :]])
            out.append(Problem(*_stats(Xp, Xr), W, _protect(t, bias)))
        return out
    Xp, Xr = (with_ones(Pp), with_ones(Pr)) if bias else (Pp, Pr)
    W = K.astype(np.float64)
    if bias:
        W = np.vstack([W, b[None, :]])
    out.append(Problem(*_stats(Xp, Xr), W, _protect(K.shape[0], bias)))
    return out


def _protect(d: int, bias: bool) -> np.ndarray:
    p = np.zeros(d + int(bias), bool)
    if bias:
        p[-1] = True
    return p


def prunable_size(probs: list[Problem]) -> int:
    return sum(int((~p.protect).sum()) * p.W.shape[1] for p in probs)


def patterns(probs: list[Problem], masker, level: float) -> list[Pattern]:
    if masker.is_nm:
        n, m = masker.block - masker.zeros_per_block, masker.block
        return [Pattern.n_of_m(n, m)] * len(probs)
    sizes = [int((~p.protect).sum()) * p.W.shape[1] for p in probs]
    total = int(round(level * sum(sizes)))
    return [Pattern.unstructured(z) for z in _quotas(total, sizes)]


@dataclass
class Solved:
    kernel: np.ndarray
    bias: np.ndarray | None
    mask: np.ndarray          # kernel-shaped, 1 keep / 0 pruned
    rel_error: float          # ‖Xᵣw − Xₚŵ‖ / ‖Xᵣw‖ after reconstruction
    rel_error_mask: float     # the same with the reference weights only masked
    seconds: float = 0.0


def _ref_error(p: Problem, What: np.ndarray) -> float:
    W = p.W
    e = (np.einsum("ik,ik->", W, p.Hr @ W) - 2 * np.einsum("ik,ik->", W, p.G.T @ What)
         + np.einsum("ik,ik->", What, p.H @ What))
    return max(float(e), 0.0)


def solve(layer, probs: list[Problem], pats: list[Pattern], correct_upstream: bool = True,
          percdamp: float = 0.01, block: int = 128, refit: bool = True) -> Solved:
    """Prune and reconstruct every problem of ``layer``; returns kernel, bias and mask."""
    outs, masks = [], []
    err = err_mask = energy = 0.0
    for p, pat in zip(probs, pats):
        target = p.W
        if correct_upstream and not np.allclose(p.G, p.H, rtol=0, atol=1e-12 * max(1.0, np.abs(p.H).max())):
            target = least_squares(p.G @ p.W, p.H, p.W, percdamp)
        res = prune_matrix(target, p.H, pat, p.protect, percdamp, block, refit)
        What = res.W
        outs.append(What)
        masks.append(res.pruned)
        err += _ref_error(p, What)
        err_mask += _ref_error(p, np.where(res.pruned, 0.0, p.W))
        energy += float(np.einsum("ik,ik->", p.W, p.Hr @ p.W))
    kshape = tuple(kernel_variable(layer).shape)
    bias = has_bias(layer)
    if is_depthwise(layer):
        kh, kw, c, m = kshape
        t = kh * kw
        K = np.stack([o[:t] for o in outs], axis=1)                # [t, c, m]
        M = np.stack([~pm[:t] for pm in masks], axis=1)
        kernel, mask = K.reshape(kshape), M.reshape(kshape)
        b = np.concatenate([o[t] for o in outs]) if bias else None
    else:
        d = int(np.prod(kshape[:-1]))
        kernel = outs[0][:d].reshape(kshape)
        mask = (~masks[0][:d]).reshape(kshape)
        b = outs[0][d] if bias else None
    denom = np.sqrt(energy) if energy > 0 else 1.0
    return Solved(kernel.astype(np.float32), None if b is None else b.astype(np.float32),
                  mask.astype(np.float32), float(np.sqrt(err) / denom), float(np.sqrt(err_mask) / denom))


def error_curve(probs: list[Problem], masker, grid: np.ndarray, percdamp: float = 0.01,
                block: int = 128) -> np.ndarray:
    """Squared relative reconstruction error at each unstructured level of ``grid`` (sweep only)."""
    energy = sum(float(np.einsum("ik,ik->", p.W, p.H @ p.W)) for p in probs) or 1.0
    out = []
    for lv in grid:
        e = 0.0
        for p, pat in zip(probs, patterns(probs, masker, float(lv))):
            if pat.zeros == 0:
                continue
            e += prune_matrix(p.W, p.H, pat, p.protect, percdamp, block, refit=False).error
        out.append(e / energy)
    return np.array(out)
