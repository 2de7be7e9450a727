"""Magnitude criteria: L1 (|w|) and L2 (w²; per channel the squared L2 norm of the filter)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Criterion, kernel_array, register_criterion


@register_criterion
@dataclass(frozen=True)
class L1Magnitude(Criterion):
    name = "l1"
    estimator = "L1 magnitude |w| (per channel: L1 norm of the filter)"

    def element_scores(self, ctx, layer) -> np.ndarray:
        return np.abs(kernel_array(layer))


@register_criterion
@dataclass(frozen=True)
class L2Magnitude(Criterion):
    name = "l2"
    estimator = "L2 magnitude w² (per channel: squared L2 norm of the filter)"

    def element_scores(self, ctx, layer) -> np.ndarray:
        w = kernel_array(layer).astype(np.float64)
        return w * w
