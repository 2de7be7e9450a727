"""One masker for the fine-grained granularities, over (block, zeros_per_block).

Weights are cut into blocks of ``block`` consecutive elements along a layer's input-channel
axis. In each block the ``zeros_per_block`` lowest-scoring elements are the candidates; then a
fraction ``level`` of the blocks (those whose candidates score lowest) have their candidates
zeroed:

  unstructured sparsity s   block=1, zeros_per_block=1, level=s   (per layer or global)
  N:M (keep N of every M)   block=M, zeros_per_block=M-N, level=1
  "up to" block sparsity    block=B, zeros_per_block=B, level=s

With ``level`` a fraction of blocks, the achieved sparsity is ``round(level·blocks)·zeros``
elements: exact to one block.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nm
from .layers import input_channel_axis, is_depthwise, kernel_variable


@dataclass(frozen=True)
class Masker:
    block: int = 1
    zeros_per_block: int = 1

    def __post_init__(self):
        if self.block < 1 or not 0 < self.zeros_per_block <= self.block:
            raise ValueError(f"masker needs block >= 1 and 0 < zeros_per_block <= block "
                             f"(got block={self.block}, zeros_per_block={self.zeros_per_block})")

    @classmethod
    def unstructured(cls) -> "Masker":
        return cls(1, 1)

    @classmethod
    def n_of_m(cls, n: int, m: int) -> "Masker":
        if not 0 < n < m:
            raise ValueError(f"N:M needs 0 < N < M (got {n}:{m})")
        return cls(m, m - n)

    @property
    def is_nm(self) -> bool:
        return self.block > 1 and self.zeros_per_block < self.block

    def describe(self) -> str:
        if self.block == 1:
            return "unstructured"
        return f"{self.block - self.zeros_per_block}:{self.block}"

    def impossible(self, layer) -> str | None:
        """Why this layer cannot be blocked, or None."""
        if self.block == 1:
            return None
        if is_depthwise(layer):
            return "depthwise kernel has no input-channel reduction to group along"
        return nm.refusal(kernel_variable(layer).shape[input_channel_axis(layer)], self.block)

    # -- block views -----------------------------------------------------------------------
    def _blocks(self, a: np.ndarray, axis: int | None) -> np.ndarray:
        if self.block == 1:
            return a.reshape(-1, 1)
        return np.moveaxis(a, axis, -1).reshape(-1, self.block)

    def _unblock(self, blocks: np.ndarray, shape: tuple, axis: int | None) -> np.ndarray:
        if self.block == 1:
            return blocks.reshape(shape)
        moved = list(shape)
        moved.append(moved.pop(axis))
        return np.moveaxis(blocks.reshape(moved), -1, axis)

    def _candidates(self, scores: np.ndarray, axis):
        b = self._blocks(scores.astype(np.float64), axis)
        # stable: among equal scores the earlier element is pruned first
        order = np.argsort(b, axis=1, kind="stable")[:, : self.zeros_per_block]
        cost = np.take_along_axis(b, order, axis=1).sum(axis=1)
        return order, cost

    def _mask_from(self, shape, axis, order, chosen) -> np.ndarray:
        keep = np.ones((order.shape[0], self.block), np.float32)
        rows = np.flatnonzero(chosen)
        keep[rows[:, None], order[rows]] = 0.0
        return self._unblock(keep, shape, axis)

    def masks(self, scores: dict[str, tuple[object, np.ndarray]], level: float | dict[str, float],
              global_: bool = False) -> dict[str, np.ndarray]:
        """Masks (1 keep, 0 prune) for ``{name: (layer, scores)}``.

        ``level`` is the fraction of blocks to prune, one number or one per layer; with
        ``global_`` one threshold is shared by all layers (scores must then be comparable).
        """
        prep = {}
        for name, (layer, s) in scores.items():
            axis = None if self.block == 1 else input_channel_axis(layer)
            order, cost = self._candidates(np.asarray(s), axis)
            prep[name] = (np.shape(s), axis, order, cost)
        out = {}
        if global_:
            if isinstance(level, dict):
                raise ValueError("a global threshold takes one level, not one per layer")
            names = list(prep)
            costs = np.concatenate([prep[n][3] for n in names])
            k = int(round(level * len(costs)))
            chosen_all = np.zeros(len(costs), bool)
            chosen_all[np.argsort(costs, kind="stable")[:k]] = True
            start = 0
            for n in names:
                shape, axis, order, cost = prep[n]
                out[n] = self._mask_from(shape, axis, order, chosen_all[start:start + len(cost)])
                start += len(cost)
            return out
        for n, (shape, axis, order, cost) in prep.items():
            lv = level[n] if isinstance(level, dict) else level
            k = int(round(lv * len(cost)))
            chosen = np.zeros(len(cost), bool)
            chosen[np.argsort(cost, kind="stable")[:k]] = True
            out[n] = self._mask_from(shape, axis, order, chosen)
        return out
