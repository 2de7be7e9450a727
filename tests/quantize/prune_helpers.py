"""Make pruned models for the QAT tests without the pruner stage (magnitude / 2:4 by hand)."""
from __future__ import annotations

import numpy as np

KERNELS = {"Conv2D": "kernel", "Dense": "kernel"}


def _input_axis_groups(kernel: np.ndarray) -> np.ndarray:
    """Kernel as [..., groups, 4] along the input-channel axis (Conv axis 2, Dense axis 0)."""
    moved = np.moveaxis(kernel, -2, -1)  # input channels last
    return moved.reshape(*moved.shape[:-1], -1, 4)


def prune_2_4(model) -> None:
    """Keep the 2 largest of every 4 consecutive input-channel weights, in place."""
    for layer in model.layers:
        if type(layer).__name__ not in KERNELS:
            continue
        w = layer.get_weights()
        k = w[0]
        if k.shape[-2] % 4:
            continue
        g = _input_axis_groups(k)
        order = np.argsort(-np.abs(g), axis=-1, kind="stable")
        keep = np.zeros_like(g, bool)
        np.put_along_axis(keep, order[..., :2], True, axis=-1)
        g = np.where(keep, g, 0.0)
        moved = g.reshape(*g.shape[:-2], -1)
        layer.set_weights([np.moveaxis(moved, -1, -2).astype(k.dtype)] + w[1:])


def prune_magnitude(model, ratio: float) -> None:
    """Zero the smallest ``ratio`` of every Conv2D/Dense kernel, in place."""
    for layer in model.layers:
        if type(layer).__name__ not in KERNELS:
            continue
        w = layer.get_weights()
        k = w[0]
        n = int(round(ratio * k.size))
        idx = np.argsort(np.abs(k), axis=None, kind="stable")[:n]
        flat = k.reshape(-1).copy()
        flat[idx] = 0
        layer.set_weights([flat.reshape(k.shape)] + w[1:])
