"""The MVE kernels bit-exact with the host reference kernels on qemu-m55 (mps3-an547).

Each test renders many layers into one bare-metal program (build ~2 s, run < 1 s), so
hypothesis draws whole batches of layer specs rather than one layer per example.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats import ckernels as K
from formats import qemu_runner as Q

from . import runner as R
from .cases import Spec, make_cases, specs_strategy

pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not Q.tools_available(), reason="arm-none-eabi-gcc/qemu absent")]

# Hand-picked: every path of every kernel.
EDGES = [
    Spec("fc", 1, 64, 12),
    Spec("fc", 2, 37, 7, hw=(2, 1), rounding=1, shift_range=(-11, -1)),    # single rounding, vector path
    Spec("fc", 3, 250, 4, per_channel=False, rounding=1, shift_range=(-2, -1)),  # t = 32 lanes (VRMULH)
    Spec("fc", 4, 3, 5, rounding=1, shift_range=(-3, 2)),                    # shift >= 0: scalar requant
    Spec("fc", 5, 16, 3, rounding=0, shift_range=(0, 4)),                    # double, left shifts
    Spec("fc", 6, 640, 128, per_channel=False, rounding=1, shift_range=(-10, -8)),  # ad01-sized
    Spec("conv", 7, 8, 16, hw=(5, 4)),                                        # 1x1 direct (GEMM)
    Spec("conv", 8, 12, 7, hw=(3, 5), stride=2),                              # 1x1 strided
    Spec("conv", 9, 5, 8, k=(3, 3), hw=(6, 7), pad=(1, 1)),                   # gathered, padded
    Spec("conv", 10, 1, 6, k=(10, 4), hw=(13, 6), stride=2, pad=(4, 1)),      # KWS-like first layer
    Spec("conv", 11, 4, 5, k=(3, 3), hw=(7, 7), stride=2, pad=(1, 1), dil=2), # dilated
    Spec("conv", 12, 70, 9, k=(3, 3), hw=(5, 5), pad=(1, 1)),                 # field 630 B
    Spec("conv", 13, 40, 66, hw=(3, 3), per_channel=False),                   # > 64 channels: two blocks
    Spec("conv", 14, 3, 1, k=(2, 2), hw=(1, 1), pad=(1, 1)),                  # one pixel, one channel
    Spec("dw", 15, 8, 0, k=(3, 3), hw=(5, 5), pad=(1, 1)),
    Spec("dw", 16, 6, 0, k=(3, 3), hw=(6, 4), stride=2, pad=(1, 1)),
    Spec("dw", 17, 4, 0, k=(3, 3), hw=(4, 4), pad=(1, 1), ch_mult=2),         # portable loop
    Spec("dw", 18, 12, 0, k=(2, 3), hw=(5, 6), pad=(0, 1), dil=2),
    Spec("dw", 19, 64, 0, k=(3, 3), hw=(25, 5), pad=(1, 1)),                  # KWS-like
    Spec("dw", 20, 21, 0, k=(3, 3), hw=(4, 4), pad=(1, 1), rounding=1, shift_range=(-6, -1)),  # 16 + 5 channels
]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return K.build(tmp_path_factory.mktemp("ref"), "ref")


def assert_exact(cases, res, what):
    bad = [f"{i}: {c.kernel}" for i, (c, ok) in enumerate(zip(cases, res.ok)) if not ok]
    assert not bad, f"{what} differs from the reference: {bad}\n{res.output[-2000:]}"
    assert len(res.instructions) == len(cases)


@pytest.fixture(scope="module")
def edge_cases(lib):
    return make_cases(lib, EDGES)


def test_edges_bit_exact(edge_cases, tmp_path):
    assert_exact(edge_cases, R.run(edge_cases, "mve", tmp_path), "mve")


def test_segment_path_bit_exact(edge_cases, tmp_path):
    """Fields above TP_MVE_CONV_PATCH_MAX take the per-segment path: force it everywhere."""
    res = R.run(edge_cases, "mve", tmp_path, defines=["-DTP_MVE_CONV_PATCH_MAX=0"])
    assert_exact(edge_cases, res, "mve (segment path)")


def test_faster_than_dsp_on_dense_layers(edge_cases, tmp_path):
    """The point of the variant: fewer instructions than the DSP kernels on every conv,
    depthwise (multiplier 1) and FC layer with at least 16 MACs per output."""
    mve = R.run(edge_cases, "mve", tmp_path / "mve")
    dsp = R.run(edge_cases, "dsp", tmp_path / "dsp")
    assert all(dsp.ok)
    slower = [(s, m, d) for s, m, d in zip(EDGES, mve.instructions, dsp.instructions)
              if m >= d and not (s.kind == "dw" and s.ch_mult > 1) and macs_per_output(s) >= 16]
    assert not slower, slower


def macs_per_output(s: Spec) -> int:
    return s.cin if s.kind == "fc" else s.k[0] * s.k[1] * (s.cin if s.kind == "conv" else 1)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(specs_strategy(), min_size=24, max_size=24))
def test_random_layers_bit_exact(lib, tmp_path_factory, specs):
    cases = make_cases(lib, specs)
    assert_exact(cases, R.run(cases, "mve", tmp_path_factory.mktemp("rand")), f"mve on {specs}")
