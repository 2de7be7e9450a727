"""Convolutions computed in place, by row bands (the planner's way to hold one buffer, not two).

A CONV_2D or DEPTHWISE_CONV_2D whose input dies at that layer may write its output over
its input: output row ``r`` reads only input rows ``r*stride - pad .. + (kh-1)*dilation``,
so once the rows still to be computed no longer need the first input rows, the finished
output rows can overwrite them. The kernel itself is never asked to work in place (its
read/write order is its own business, and differs between the reference, DSP and MVE
variants): it is called once per band of output rows on the sub-image that band reads,
writing into a small band buffer; after each call the rows that are now safe are copied
over the input. Rows that are not yet safe (the window's halo) stay pending at the front
of the band buffer. The whole schedule is static: computed here, emitted as a table.

Every call gets exactly the taps the full call would have used: the sub-image starts at
the band's first needed input row, the top padding shrinks by as much, and taps past the
sub-image's bottom are past the image's bottom too. So any kernel that is bit-exact on the
whole layer is bit-exact banded.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Default number of row bands per layer: fewer calls cost fewer instructions (each call
#: repeats the kernel's per-call set-up), more bands cost fewer bytes of band buffer.
BANDS = 4
IN_PLACE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


@dataclass(frozen=True)
class Geometry:
    """The row geometry of one convolution (batch 1, NHWC)."""

    in_h: int
    in_row: int  # bytes per input row (w * c)
    out_h: int
    out_w: int
    out_row: int  # bytes per output row
    stride: int
    pad: int  # top padding
    eff_kh: int  # (kh - 1) * dilation + 1

    def first_in(self, r: int) -> int:
        """First input row that output row ``r`` reads."""
        return max(0, r * self.stride - self.pad)

    def last_in(self, r: int) -> int:
        """Last input row that output row ``r`` reads."""
        return min(self.in_h - 1, r * self.stride - self.pad + self.eff_kh - 1)


@dataclass(frozen=True)
class RowBand:
    """One kernel call: output rows ``out_rows`` from input rows ``in_row ..`` (``in_rows``
    of them, top padding ``pad``), then ``commit_rows`` finished rows copied over the input."""

    in_row: int
    in_rows: int
    pad: int
    out_rows: int
    commit_rows: int


@dataclass(frozen=True)
class BandPlan:
    geometry: Geometry
    bands: tuple[RowBand, ...]
    buffer_rows: int  # most output rows the band buffer ever holds (pending + one band)

    @property
    def buffer_bytes(self) -> int:
        return self.buffer_rows * self.geometry.out_row


def geometry(e) -> Geometry | None:
    """The emitter's row geometry, or None when it cannot run in place."""
    if e.op.opcode not in IN_PLACE_OPS or not hasattr(e, "in_dims"):
        return None
    n, in_h, in_w, in_c = e.in_dims
    on, out_h, out_w, out_c = e.out_dims
    if n != 1 or on != 1:
        return None
    return Geometry(in_h, in_w * in_c, out_h, out_w, out_w * out_c, e.stride[0], e.pad[0],
                    (e.k_hw[0] - 1) * e.dilation[0] + 1)


def band_sizes(out_h: int, out_w: int, bands: int) -> list[int]:
    """Output rows per call: ``bands`` equal bands, the remainder added to the last one, and
    every band but the last an even number of pixels (the optimized conv kernels work on
    pixel pairs: an odd band would waste half a pass)."""
    rows = max(1, (out_h + bands // 2) // max(1, bands))
    if rows * out_w % 2 and rows > 1:
        rows -= 1
    n = max(1, out_h // rows)
    return [rows] * (n - 1) + [out_h - rows * (n - 1)]


def schedule(g: Geometry, sizes) -> BandPlan:
    """One call per entry of ``sizes`` (output rows, summing to out_h); after each, commit
    every output row whose bytes no longer overlap an input row that a later call reads."""
    if sum(sizes) != g.out_h or min(sizes) < 1:
        raise ValueError(f"band sizes {list(sizes)} do not split {g.out_h} output rows")
    bands, done, committed, pending, most = [], 0, 0, 0, 0
    for rows in sizes:
        a, b = done, done + rows
        lo, hi = g.first_in(a), g.last_in(b - 1)
        done, pending = b, pending + (b - a)
        most = max(most, pending)
        # Output rows [0, k) occupy bytes [0, k*out_row); rows >= done still read from first_in(done) on.
        safe = g.out_h if done == g.out_h else g.first_in(done) * g.in_row // g.out_row
        commit = max(0, min(done, safe) - committed)
        committed, pending = committed + commit, pending - commit
        bands.append(RowBand(lo, hi - lo + 1, lo - (a * g.stride - g.pad), b - a, commit))
    return BandPlan(g, tuple(bands), most)


def band_plan(e, bands: int = BANDS) -> BandPlan | None:
    """The in-place plan for emitter ``e`` in about ``bands`` calls, or None when running it
    in place could not save memory (its band buffer would be as large as the smaller tensor)."""
    g = geometry(e)
    if g is None:
        return None
    plan = schedule(g, band_sizes(g.out_h, g.out_w, bands))
    if plan.buffer_bytes >= min(g.in_h * g.in_row, g.out_h * g.out_row):
        return None
    return plan
