"""The DSP sparse kernels (firmware/kernels/dsp/tp_csr_s8.c, tp_nm_s8.c) on qemu-m4, bit-exact
with the host reference kernels on the shapes that reach each of their paths: 2:4 groups
per row of 4k, 4k+2 and odd counts (the asm loop, the two-group step, the unpaired last
group), short last groups (Kh*Kw*Cin % 4 != 0), pixel counts that leave a partial block
of four, pointwise inputs read in place or copied (Cin % 4), padding, per-tensor
quantization, a narrow activation, single rounding, a call without scratch (the portable
fallback), and CSR with 8- and 16-bit columns, empty rows and row-length tails.
"""
from __future__ import annotations

import numpy as np
import pytest

from formats import ckernels as K
from formats import qemu_runner as Q
from formats.test_kernels_qemu import geom, random_layer

pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not Q.tools_available(), reason="arm-none-eabi-gcc/qemu absent")]

# (wshape, input hw, stride, padding, dilation, per_channel, rounding)
NM_CONVS = [
    ((8, 1, 1, 16), (3, 3), 1, (0, 0), 1, True, 0),    # 4 groups: asm loop only, 9 pixels (partial block)
    ((6, 1, 1, 24), (2, 3), 1, (0, 0), 1, True, 0),    # 6 groups: loop + two-group step
    ((5, 1, 1, 12), (4, 2), 1, (0, 0), 1, False, 0),   # 3 groups: two-group step + unpaired group
    ((7, 1, 1, 10), (3, 3), 1, (0, 0), 1, True, 0),    # Cin % 4 = 2: short group, field copied
    ((4, 3, 3, 6), (5, 4), 1, (1, 1), 1, True, 0),     # 54 taps: padded im2col, odd groups
    ((6, 10, 4, 1), (13, 6), 2, (4, 1), 1, True, 0),   # KWS-like stem, 10 groups
    ((5, 3, 3, 4), (7, 7), 2, (1, 1), 2, True, 1),     # dilation, single rounding
]


def nm_conv_cases(lib, rng):
    cases = []
    x = lambda *s: rng.integers(-128, 128, s).astype(np.int8)  # noqa: E731
    for wshape, hw, s, pad, d, pc, rnd in NM_CONVS:
        layer = random_layer(rng, wshape, per_channel=pc, rounding=rnd, nm=True)
        cases.append(Q.conv_case(len(cases), lib, layer, x(1, *hw, wshape[3]), geom(wshape[1:3], s, pad, d, hw),
                                 fmt="nm"))
    layer = random_layer(rng, (6, 1, 1, 16), nm=True)
    layer.act = (-20, 40)
    cases.append(Q.conv_case(len(cases), lib, layer, x(1, 3, 5, 16), geom((1, 1), 1, (0, 0), 1, (3, 5)), fmt="nm"))
    layer = random_layer(rng, (6, 1, 1, 16), nm=True)
    cases.append(Q.conv_case(len(cases), lib, layer, x(1, 2, 3, 16), geom((1, 1), 1, (0, 0), 1, (2, 3)), fmt="nm"))
    cases[-1].call = cases[-1].call.replace("(&ctx", "(&no_scratch")
    cases[-1].kernel += " no scratch"
    return cases


def csr_cases(lib, rng, start):
    cases = []
    x = lambda *s: rng.integers(-128, 128, s).astype(np.int8)  # noqa: E731
    for out, depth, rows, density, rnd in [(13, 300, 1, 0.1, 1), (9, 64, 2, 0.3, 0), (6, 40, 1, 0.05, 1),
                                           (16, 640, 1, 0.1, 1)]:
        layer = random_layer(rng, (out, depth), density=density, per_channel=out % 2 == 0, rounding=rnd)
        layer.w[0] = 0  # an empty row
        cases.append(Q.fc_case(start + len(cases), lib, layer, x(rows, depth), fmt="csr"))
    layer = random_layer(rng, (10, 3, 3, 8), density=0.15)
    cases.append(Q.conv_case(start + len(cases), lib, layer, x(1, 5, 5, 8), geom((3, 3), 1, (1, 1), 1, (5, 5)),
                             fmt="csr"))
    return cases


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return K.build(tmp_path_factory.mktemp("ref"), "ref")


def test_dsp_sparse_kernels_bit_exact_on_m4(lib, tmp_path):
    rng = np.random.default_rng(6)
    cases = nm_conv_cases(lib, rng)
    cases += csr_cases(lib, rng, len(cases))
    res = Q.run(cases, "dsp", "m4", tmp_path)
    bad = [f"{i}: {c.kernel}" for i, (c, ok) in enumerate(zip(cases, res.ok)) if not ok]
    assert not bad, f"DSP sparse kernels differ from the reference: {bad}\n{res.output[-2000:]}"


def test_dsp_2to4_conv_beats_reference_sparse(lib, tmp_path):
    """The pointwise 2:4 layer is several times cheaper than the portable kernel."""
    rng = np.random.default_rng(7)
    layer = random_layer(rng, (32, 1, 1, 64), nm=True)
    x = rng.integers(-128, 128, (1, 8, 5, 64)).astype(np.int8)
    case = [Q.conv_case(0, lib, layer, x, geom((1, 1), 1, (0, 0), 1, (8, 5)), fmt="nm")]
    dsp = Q.run(case, "dsp", "m4", tmp_path / "dsp")
    ref = Q.run(case, "ref", "m4", tmp_path / "ref")
    assert dsp.ok == [True] and ref.ok == [True]
    assert dsp.instructions[0] * 3 < ref.instructions[0], (dsp.instructions, ref.instructions)
