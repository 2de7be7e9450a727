"""CHITA-style combinatorial one-shot pruning (after Benbaki et al., "Fast as CHITA", 2023).

The loss around the dense weights w̄ is modelled by the empirical Fisher of n per-sample
gradients, F = (1/n)·GᵀG with G the n×p gradient matrix (we keep A = G/√n, never the p×p F),
plus a ridge term:

    Q(w) = ½‖A(w − w̄)‖² + ½·λ‖w − w̄‖²,   λ = ridge · tr(F)/p

and minimised over the masker's constraint set (k nonzeros per layer or globally, or N of
every M) by iterative hard thresholding: w ← P(w − η∇Q(w)) with P the Euclidean projection
(the masker applied to w²) and η from a backtracking line search (a step is taken only if Q
decreases). The start point is the magnitude-pruned w̄, so the result is never worse than
magnitude pruning on Q. Finally the kept weights are updated jointly: conjugate gradients on
Q restricted to the final support. Cost per iteration: two products with A, O(n·p).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layers import kernel_variable
from .base import Criterion, kernel_array, register_criterion
from .grads import per_sample_gradients


@dataclass
class ChitaProblem:
    """The quadratic one-shot problem on the concatenated kernels of some layers."""

    A: np.ndarray            # n×p, rows = per-sample gradients / √n
    w_bar: np.ndarray        # p, dense weights
    lam: float

    def objective(self, w: np.ndarray) -> float:
        d = w - self.w_bar
        r = self.A @ d
        return 0.5 * float(r @ r) + 0.5 * self.lam * float(d @ d)

    def gradient(self, w: np.ndarray) -> np.ndarray:
        d = w - self.w_bar
        return self.A.T @ (self.A @ d) + self.lam * d


def solve_support(prob: ChitaProblem, w: np.ndarray, support: np.ndarray, iters: int) -> np.ndarray:
    """Minimise Q over weights on ``support`` (others fixed at 0) by conjugate gradients from ``w``."""
    s = support.astype(np.float64)
    w = w * s

    def matvec(u):
        u = u * s
        return (prob.A.T @ (prob.A @ u) + prob.lam * u) * s

    r = -prob.gradient(w) * s
    p = r.copy()
    rr = float(r @ r)
    for _ in range(iters):
        if rr <= 1e-30:
            break
        ap = matvec(p)
        alpha = rr / float(p @ ap)
        w = w + alpha * p
        r = r - alpha * ap
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return w * s


def iht(prob: ChitaProblem, project, max_iter: int = 100, tol: float = 1e-6, cg_iter: int = 50):
    """Iterative hard thresholding with backtracking; returns (w, support, history of Q)."""
    w = project(prob.w_bar)
    q = prob.objective(w)
    history = [q]
    # step size: start at 1/L with L ≈ ‖A‖₂² + λ (power iteration), adapt by doubling/halving
    v = np.random.default_rng(0).standard_normal(prob.A.shape[1])
    for _ in range(20):
        v = prob.A.T @ (prob.A @ v)
        v /= np.linalg.norm(v) + 1e-30
    L = float(np.linalg.norm(prob.A @ v) ** 2) + prob.lam
    eta = 1.0 / max(L, 1e-30)
    for _ in range(max_iter):
        g = prob.gradient(w)
        eta *= 2.0
        for _ in range(30):
            cand = project(w - eta * g)
            qc = prob.objective(cand)
            if qc < q:
                break
            eta *= 0.5
        else:
            break
        improvement = (q - qc) / max(abs(q), 1e-30)
        w, q = cand, qc
        history.append(q)
        if improvement < tol:
            break
    support = w != 0
    w = solve_support(prob, w, support, cg_iter)
    qf = prob.objective(w)
    if qf <= q:
        history.append(qf)
    return w, support, history


@register_criterion
@dataclass(frozen=True)
class ChitaOneShot(Criterion):
    name = "chita"
    estimator = ("CHITA-style one-shot: empirical-Fisher quadratic (n×p per-sample gradient matrix, "
                 "no p×p matrix) + ridge, iterative hard thresholding with backtracking line search, "
                 "kept weights re-solved jointly by conjugate gradients")
    granularities = frozenset({"element"})
    needs_data = True
    updates_weights = True
    n_samples: int = 256
    ridge: float = 1e-2
    max_iter: int = 100
    tol: float = 1e-6
    cg_iter: int = 50
    stages: int = 1

    def element_scores(self, ctx, layer) -> np.ndarray:
        # Without the solver: the OBD-style saliency ½(F_ii + λ)·w² from the Fisher diagonal.
        prob, slices = self.problem(ctx, [layer])
        w = kernel_array(layer).astype(np.float64)
        fdiag = (prob.A ** 2).sum(axis=0).reshape(w.shape)
        return 0.5 * (fdiag + prob.lam) * w * w

    def problem(self, ctx, layers):
        G = per_sample_gradients(ctx, layers, self.n_samples)
        A = G / np.sqrt(len(G))
        w_bar = np.concatenate([kernel_array(l).astype(np.float64).ravel() for l in layers])
        lam = self.ridge * float((A * A).sum()) / A.shape[1]
        slices, start = {}, 0
        for l in layers:
            size = int(np.prod(kernel_variable(l).shape))
            slices[l.name] = (slice(start, start + size), tuple(kernel_variable(l).shape), l)
            start += size
        return ChitaProblem(A, w_bar, max(lam, 1e-12)), slices

    def solve(self, ctx, layers, masker, level, global_: bool):
        """{name: (new kernel, mask)} for ``layers`` pruned by ``masker`` at ``level``.

        With ``stages`` > 1 (unstructured only) the target is reached in equal steps, each a
        fresh quadratic model around the previous stage's pruned and updated weights — the
        quadratic is only trusted near the point where the gradients were taken.
        """
        ctx.require_data(self.name)
        stages = 1 if masker.is_nm else max(1, self.stages)
        out = {}
        for k in range(1, stages + 1):
            lv = ({n: v * k / stages for n, v in level.items()} if isinstance(level, dict)
                  else level * k / stages)
            out = self._solve_once(ctx, layers, masker, lv, global_)
            for layer in layers:
                kernel, mask = out[layer.name]
                kernel_variable(layer).assign(kernel * mask)
        return out

    def _solve_once(self, ctx, layers, masker, level, global_):
        prob, slices = self.problem(ctx, layers)

        def masks_of(w):
            scores = {n: (l, (w[sl] ** 2).reshape(shape)) for n, (sl, shape, l) in slices.items()}
            return masker.masks(scores, level, global_)

        def project(w):
            m = masks_of(w)
            out = np.zeros_like(w)
            for n, (sl, shape, _) in slices.items():
                out[sl] = w[sl] * m[n].ravel()
            return out

        w, support, _ = iht(prob, project, self.max_iter, self.tol, self.cg_iter)
        out = {}
        for n, (sl, shape, _) in slices.items():
            mask = support[sl].reshape(shape).astype(np.float32)
            out[n] = (w[sl].reshape(shape).astype(np.float32), mask)
        return out
