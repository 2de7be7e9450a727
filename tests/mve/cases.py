"""Random dense layers for the MVE kernels, with the host reference kernels' outputs.

A layer spec is a plain tuple drawn by hypothesis (or listed by hand); ``make_cases``
turns specs into runner cases, numbering them in order (the rendered C names arrays by
case index).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from formats import ckernels as K
from formats import qemu_runner as Q


@dataclass(frozen=True)
class Spec:
    kind: str  # "fc" | "conv" | "dw"
    seed: int
    cin: int  # depth for fc
    cout: int  # output channels (dw: multiplier applied to cin)
    k: tuple = (1, 1)
    hw: tuple = (1, 1)  # input height, width; fc: (rows, 1)
    stride: int = 1
    pad: tuple = (0, 0)
    dil: int = 1
    ch_mult: int = 1
    per_channel: bool = True
    rounding: int = 0
    shift_range: tuple = (-11, 0)


def out_hw(s: Spec) -> tuple[int, int]:
    def one(n, k, p):
        return (n + 2 * p - s.dil * (k - 1) - 1) // s.stride + 1
    return one(s.hw[0], s.k[0], s.pad[0]), one(s.hw[1], s.k[1], s.pad[1])


def valid(s: Spec) -> bool:
    oh, ow = out_hw(s)
    if oh < 1 or ow < 1:
        return False
    # padding below the dilated kernel extent: every window touches the input, as in TFLite
    return all(p < s.dil * (k - 1) + 1 for p, k in zip(s.pad, s.k))


def layer(s: Spec, rows: int) -> tuple[K.Layer, np.random.Generator]:
    rng = np.random.default_rng(s.seed)
    wshape = {"fc": (s.cout, s.cin), "conv": (s.cout, *s.k, s.cin), "dw": (1, *s.k, s.cin * s.ch_mult)}[s.kind]
    w = rng.integers(-127, 128, wshape).astype(np.int8)
    nq = rows if s.per_channel else 1
    lo, hi = s.shift_range
    mult = rng.integers(2**30, 2**31, nq, dtype=np.int64).astype(np.int32)
    bias = rng.integers(-20000, 20000, rows)
    act = (-128, 127) if rng.random() < 0.5 else (int(rng.integers(-128, 0)), int(rng.integers(0, 128)))
    lay = K.Layer(w, bias, mult, rng.integers(lo, hi + 1, nq), int(rng.integers(-127, 129)),
                  int(rng.integers(-128, 128)), act=act, rounding=s.rounding)
    return lay, rng


def make_case(i: int, lib, s: Spec):
    if s.kind == "fc":
        lay, rng = layer(s, s.cout)
        x = rng.integers(-128, 128, (s.hw[0], s.cin)).astype(np.int8)
        return Q.fc_case(i, lib, lay, x)
    g = dict(stride=(s.stride, s.stride), padding=s.pad, dilation=(s.dil, s.dil), out_hw=out_hw(s))
    if s.kind == "conv":
        lay, rng = layer(s, s.cout)
        x = rng.integers(-128, 128, (1, *s.hw, s.cin)).astype(np.int8)
        return Q.conv_case(i, lib, lay, x, g)
    lay, rng = layer(s, s.cin * s.ch_mult)
    x = rng.integers(-128, 128, (1, *s.hw, s.cin)).astype(np.int8)
    return Q.dw_case(i, lib, lay, x, g, ch_mult=s.ch_mult)


def make_cases(lib, specs) -> list:
    return [make_case(i, lib, s) for i, s in enumerate(specs)]


def specs_strategy():
    """Hypothesis strategy for one valid layer spec of bounded size."""
    from hypothesis import strategies as st

    @st.composite
    def spec(draw):
        kind = draw(st.sampled_from(["fc", "conv", "conv", "dw"]))
        rounding = draw(st.sampled_from([0, 1]))
        shift_range = draw(st.sampled_from([(-11, 0), (-31, -18), (-4, 3), (-2, -1)]))
        common = dict(seed=draw(st.integers(0, 2**31)), per_channel=draw(st.booleans()), rounding=rounding,
                      shift_range=shift_range)
        if kind == "fc":
            return Spec("fc", cin=draw(st.integers(1, 300)), cout=draw(st.integers(1, 21)),
                        hw=(draw(st.integers(1, 3)), 1), **common)
        k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
        dil = draw(st.sampled_from([1, 1, 2]))
        pad = (draw(st.integers(0, dil * (k[0] - 1))), draw(st.integers(0, dil * (k[1] - 1))))
        hw = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
        stride = draw(st.integers(1, 3))
        if kind == "conv":
            return Spec("conv", cin=draw(st.integers(1, 40)), cout=draw(st.integers(1, 20)), k=k, hw=hw,
                        stride=stride, pad=pad, dil=dil, **common)
        mult = draw(st.sampled_from([1, 1, 1, 2]))
        return Spec("dw", cin=draw(st.integers(1, 40)), cout=0, k=k, hw=hw, stride=stride, pad=pad, dil=dil,
                    ch_mult=mult, **common)

    return spec().filter(valid)
