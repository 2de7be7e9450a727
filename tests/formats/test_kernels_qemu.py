"""The DSP kernel variant (and the sparse kernels under it) bit-exact with the host
reference kernels on QEMU: qemu-m4 (mps2-an386) and qemu-m55 (mps3-an547).

Uses this folder's own minimal runner (semihosting, no UART protocol), so it depends
only on arm-none-eabi-gcc, qemu-system-arm and the instruction-count plugin.
"""
from __future__ import annotations

import numpy as np
import pytest

from . import ckernels as K
from . import qemu_runner as Q

pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not Q.tools_available(), reason="arm-none-eabi-gcc/qemu absent")]


def geom(k, stride, pad, dil, hw):
    oh = (hw[0] + 2 * pad[0] - dil * (k[0] - 1) - 1) // stride + 1
    ow = (hw[1] + 2 * pad[1] - dil * (k[1] - 1) - 1) // stride + 1
    return dict(stride=(stride, stride), padding=pad, dilation=(dil, dil), out_hw=(oh, ow))


def random_layer(rng, wshape, per_channel=True, rounding=0, density=1.0, nm=False):
    w = rng.integers(-127, 128, wshape).astype(np.int8)
    m = w.reshape(wshape[0], -1)
    if nm:
        for r in range(m.shape[0]):
            for g in range(0, m.shape[1], 4):
                m[r, rng.permutation(np.arange(g, min(g + 4, m.shape[1])))[2:]] = 0
    else:
        m[rng.random(m.shape) > density] = 0
    rows = wshape[-1] if wshape[0] == 1 and len(wshape) == 4 else wshape[0]
    nq = rows if per_channel else 1
    return K.Layer(w, rng.integers(-3000, 3000, rows), rng.integers(2**30, 2**31 - 1, nq),
                   rng.integers(-11, 1, nq), int(rng.integers(-127, 129)), int(rng.integers(-128, 128)),
                   act=(-128, 127) if rng.random() < 0.5 else (-10, 127), rounding=rounding)


def build_cases(lib, seed=0):
    rng = np.random.default_rng(seed)
    cases = []

    def add(make, *a, **k):
        cases.append(make(len(cases), lib, *a, **k))

    x = lambda *s: rng.integers(-128, 128, s).astype(np.int8)  # noqa: E731
    for depth, out, rows, rnd in [(64, 12, 1, 1), (37, 7, 2, 1), (250, 4, 1, 0), (3, 5, 1, 1)]:
        add(Q.fc_case, random_layer(rng, (out, depth), per_channel=out % 2 == 0, rounding=rnd), x(rows, depth))
    conv_shapes = [  # (wshape, in hw, stride, pad, dil)
        ((16, 1, 1, 8), (5, 4), 1, (0, 0), 1),
        ((7, 1, 1, 12), (3, 5), 1, (0, 0), 1),
        ((8, 3, 3, 5), (6, 7), 1, (1, 1), 1),
        ((6, 10, 4, 1), (13, 6), 2, (4, 1), 1),
        ((5, 3, 3, 4), (7, 7), 2, (1, 1), 2),
        ((3, 2, 2, 3), (4, 5), 1, (0, 0), 1),
    ]
    for wshape, hw, s, pad, d in conv_shapes:
        g = geom(wshape[1:3], s, pad, d, hw)
        add(Q.conv_case, random_layer(rng, wshape), x(1, *hw, wshape[3]), g)
    for c, mult, k, hw, s, pad, d in [(8, 1, (3, 3), (5, 5), 1, (1, 1), 1), (6, 1, (3, 3), (6, 4), 2, (1, 1), 1),
                                      (4, 2, (3, 3), (4, 4), 1, (1, 1), 1), (12, 1, (2, 3), (5, 6), 1, (0, 1), 2)]:
        g = geom(k, s, pad, d, hw)
        add(Q.dw_case, random_layer(rng, (1, *k, c * mult)), x(1, *hw, c), g, ch_mult=mult)
    # DSP paths: no scratch (the im2col-free loop, chosen explicitly), per-tensor, left shifts, odd channel counts
    g = geom((3, 3), 1, (1, 1), 1, (5, 6))
    add(Q.conv_case, random_layer(rng, (5, 3, 3, 6)), x(1, 5, 6, 6), g, variant="TP_VARIANT_GENERIC")
    cases[-1].call = cases[-1].call.replace("tp_convolve_s8(&ctx", "tp_convolve_s8(&no_scratch")
    cases[-1].kernel += " no scratch"
    layer = random_layer(rng, (6, 1, 1, 8), per_channel=False)
    layer.shift = rng.integers(1, 4, layer.shift.size).astype(np.int32)
    layer.mult = rng.integers(2**30, 2**30 + 2**20, layer.mult.size).astype(np.int32)
    layer.bias = rng.integers(-50, 50, layer.bias.size).astype(np.int32)
    add(Q.conv_case, layer, x(1, 3, 5, 8), geom((1, 1), 1, (0, 0), 1, (3, 5)))
    layer = random_layer(rng, (1, 3, 3, 9))
    layer.shift[::2] = 1
    layer.mult[::2] = 2**30
    add(Q.dw_case, layer, x(1, 4, 3, 9), geom((3, 3), 1, (1, 1), 1, (4, 3)))
    for fmt in ("csr", "bitmask", "nm"):
        add(Q.fc_case, random_layer(rng, (9, 300), density=0.3, nm=fmt == "nm"), x(1, 300), fmt=fmt)
        add(Q.fc_case, random_layer(rng, (6, 40), density=0.5, nm=fmt == "nm", rounding=1), x(2, 40), fmt=fmt)
        g = geom((3, 3), 1, (1, 1), 1, (4, 5))
        add(Q.conv_case, random_layer(rng, (5, 3, 3, 6), density=0.4, nm=fmt == "nm"), x(1, 4, 5, 6), g, fmt=fmt)
        g = geom((1, 1), 1, (0, 0), 1, (3, 3))
        add(Q.conv_case, random_layer(rng, (8, 1, 1, 16), density=0.2, nm=fmt == "nm"), x(1, 3, 3, 16), g, fmt=fmt)
    return cases


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    lib = K.build(tmp_path_factory.mktemp("ref"), "ref")
    return build_cases(lib)


@pytest.mark.parametrize("variant,core", [("dsp", "m4"), ("dsp", "m55"), ("ref", "m4")])
def test_variant_bit_exact_on_qemu(cases, variant, core, tmp_path):
    res = Q.run(cases, variant, core, tmp_path)
    bad = [f"{i}: {c.kernel}" for i, (c, ok) in enumerate(zip(cases, res.ok)) if not ok]
    assert not bad, f"{variant} on {core} differs from the reference: {bad}\n{res.output[-2000:]}"
    assert len(res.instructions) == len(cases)
