"""N:M compressed: in every group of M consecutive columns at most N weights are nonzero.

Groups run along each row (TFLite's contiguous input-channel axis, where tfmot's 2:4 puts
them); a row whose length is not a multiple of M ends in a short group. Each group stores
exactly N int8 values (zero-filled when it has fewer nonzeros) and N positions of
``log2(M)`` bits, packed LSB-first into a byte stream per row. 2:4 thus costs 2.5 bytes
per 4 weights.

For 2:4 the values of each pair of groups (A, B) are stored ``a0 b0 a1 b1``: one SXTB16
of that word gives group A's two weights as int16 lanes, the rotated one group B's, which
is what the DSP kernels' SMLAD wants. A last unpaired group is stored ``a0 a1``.
"""
from __future__ import annotations

import numpy as np

from tinyml_prune import nm

from .base import Encoded, FormatError, WeightFormat, as_int8_matrix, register


class NM(WeightFormat):
    N = 2
    M = 4
    ops = frozenset({"CONV_2D", "FULLY_CONNECTED"})

    @property
    def pos_bits(self) -> int:
        return (self.M - 1).bit_length()

    def check(self, w, layer="?"):
        counts = nm.counts(w, self.M)
        if counts.size and counts.max() > self.N:
            r, g = np.unravel_index(int(np.argmax(counts)), counts.shape)
            raise FormatError(
                f"layer {layer}: output channel {r}, columns {g * self.M}..{g * self.M + self.M - 1} "
                f"hold {counts[r, g]} nonzeros, more than {self.N}:{self.M} allows"
            )

    def encode(self, w, layer="?"):
        m = as_int8_matrix(w)
        self.check(m, layer)
        # Positions of the kept weights in each group: nonzeros first, then fill with the
        # lowest zero positions (their value is 0, so they cost a MAC but change nothing).
        kept, pos = nm.compress(m, self.N, self.M)
        rows, ngroups, _ = pos.shape
        values = self._interleave(kept.astype(np.int8))
        bits = self.pos_bits
        per_row_bits = ngroups * self.N * bits
        row_bytes = -(-per_row_bits // 8)
        # Pack the position bit fields LSB-first: field k of a row occupies bits k*bits.. .
        fields = pos.reshape(rows, -1).astype(np.uint32)
        bitplanes = ((fields[:, :, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(rows, -1)
        packed = np.packbits(bitplanes, axis=1, bitorder="little")
        index = np.zeros((rows, row_bytes), np.uint8)
        index[:, : packed.shape[1]] = packed[:, :row_bytes]
        return Encoded(
            self.name,
            m.shape,
            {"values": values.reshape(-1), "index": index.reshape(-1)},
            {"nnz": int(np.count_nonzero(m)), "n": self.N, "m": self.M, "groups": ngroups},
        )

    def decode(self, enc):
        rows, cols = enc.shape
        N, M, bits = enc.params["n"], enc.params["m"], self.pos_bits
        ngroups = enc.params["groups"]
        index = enc.arrays["index"].reshape(rows, -1)
        planes = np.unpackbits(index, axis=1, count=ngroups * N * bits, bitorder="little")
        pos = (planes.reshape(rows, ngroups * N, bits).astype(np.int64) << np.arange(bits)).sum(axis=2)
        pos = pos.reshape(rows, ngroups, N)
        values = self._deinterleave(enc.arrays["values"].reshape(rows, ngroups, N))
        return nm.decompress(values.astype(np.int8), pos, M, cols).copy()

    def _paired(self) -> bool:
        return (self.N, self.M) == (2, 4)

    def _interleave(self, v: np.ndarray) -> np.ndarray:
        """[rows, groups, 2] in group order -> stored order (a0 b0 a1 b1 per pair of groups)."""
        if not self._paired():
            return v
        out = v.copy()
        pairs = v.shape[1] // 2 * 2
        out[:, :pairs] = v[:, :pairs].reshape(v.shape[0], -1, 2, 2).transpose(0, 1, 3, 2).reshape(v.shape[0], pairs, 2)
        return out

    def _deinterleave(self, v: np.ndarray) -> np.ndarray:
        return self._interleave(v)  # swapping b0 and a1 is its own inverse

    def __init__(self, n: int | None = None, m: int | None = None):
        if n is not None:
            self.N, self.M = n, m
        if not (0 < self.N < self.M <= 16 and self.M & (self.M - 1) == 0):
            raise FormatError(f"N:M needs 0 < N < M <= 16 with M a power of two, got {self.N}:{self.M}")


@register
class NM24(NM):
    """2:4, the pattern tfmot's ``sparsity_m_by_n=(2, 4)`` produces."""

    name = "nm"
    N, M = 2, 4
