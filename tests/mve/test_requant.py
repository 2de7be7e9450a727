"""Vector requantization (tp_mve_requantize) equals the reference tp_requantize() on
qemu-m55: edge grid, rounding ties, and millions of random lanes, both roundings."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from formats import qemu_runner as Q

from . import runner as R

pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not Q.tools_available(), reason="arm-none-eabi-gcc/qemu absent")]

CHECK = Path(__file__).resolve().parent / "requant_check.c"


def test_vector_requant_equals_reference(tmp_path):
    elf = tmp_path / "requant.elf"
    R.compile_m55([CHECK], "mve", elf, ["-DRANDOM_TRIPLES=2000000"])
    out, _ = R.run_elf(elf, tmp_path, count=False)
    m = re.search(r"requant ok (\d+)", out)
    assert m, out[-2000:]
    assert int(m.group(1)) > 4_000_000  # both modes: grid + ties + 2 M random lanes each
