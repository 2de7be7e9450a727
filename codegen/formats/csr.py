"""Compressed sparse rows: the nonzero int8 values, their column indices, and row lengths.

Column indices are 8-bit when every column fits (``cols <= 256``), else 16-bit. Rows are
stored as lengths (uint16, ``cols < 65536``) instead of pointers: kernels walk the rows in
order, and lengths never need the 32-bit pointers a large ``nnz`` would.
"""
from __future__ import annotations

import numpy as np

from .base import Encoded, FormatError, WeightFormat, as_int8_matrix, index_dtype, register


@register
class CSR(WeightFormat):
    name = "csr"
    ops = frozenset({"CONV_2D", "FULLY_CONNECTED"})

    def check(self, w, layer="?"):
        if w.shape[1] > 0xFFFF:
            raise FormatError(f"layer {layer}: {w.shape[1]} columns exceed CSR's 16-bit column index")

    def encode(self, w, layer="?"):
        m = as_int8_matrix(w)
        self.check(m, layer)
        rows, cols = np.nonzero(m)  # row-major order: row by row, columns ascending
        col_dt = index_dtype(max(m.shape[1] - 1, 0))
        arrays = {
            "values": m[rows, cols].astype(np.int8),
            "cols": cols.astype(col_dt),
            "row_len": np.bincount(rows, minlength=m.shape[0]).astype(np.uint16),
        }
        return Encoded(self.name, m.shape, arrays, {"nnz": int(rows.size), "col_bits": col_dt.itemsize * 8})

    def decode(self, enc):
        m = np.zeros(enc.shape, np.int8)
        rows = np.repeat(np.arange(enc.shape[0]), enc.arrays["row_len"].astype(np.int64))
        m[rows, enc.arrays["cols"].astype(np.int64)] = enc.arrays["values"]
        return m
