"""Bitmask sparse rows: one presence bit per weight, plus the nonzero int8 values.

Each row's mask is ``ceil(cols/8)`` bytes, bit ``j % 8`` of byte ``j // 8`` set when column
``j`` is nonzero. It costs ``cols/8`` bytes per row whatever the sparsity, so it is smaller
than CSR (one index byte per nonzero) once more than 1/8 of the weights are nonzero.
"""
from __future__ import annotations

import numpy as np

from .base import Encoded, WeightFormat, as_int8_matrix, register


@register
class Bitmask(WeightFormat):
    name = "bitmask"
    ops = frozenset({"CONV_2D", "FULLY_CONNECTED"})

    def encode(self, w, layer="?"):
        m = as_int8_matrix(w)
        mask = np.packbits(m != 0, axis=1, bitorder="little")
        return Encoded(
            self.name,
            m.shape,
            {"values": m[m != 0].astype(np.int8), "mask": mask.reshape(-1)},
            {"nnz": int(np.count_nonzero(m))},
        )

    def decode(self, enc):
        rows, cols = enc.shape
        bits = np.unpackbits(enc.arrays["mask"].reshape(rows, -1), axis=1, count=cols, bitorder="little")
        m = np.zeros(enc.shape, np.int8)
        m[bits.astype(bool)] = enc.arrays["values"]
        return m
