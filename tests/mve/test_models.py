"""Whole models through the real board harness on qemu-m55 with the MVE kernels:
``tinyml codegen`` -> ``build --board qemu-m55`` -> ``profile``, bit-exact with TFLite
BUILTIN_REF (KWS: conv, depthwise, FC; ad01: FC with TF 2.21's single rounding; the
digits CNN)."""
from __future__ import annotations

import json

import pytest

from conftest import fixture_path
from formats import qemu_runner as Q

pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not Q.tools_available(), reason="arm-none-eabi-gcc/qemu absent")]


def profile_on_m55(tflite, root) -> tuple[dict, list[str]]:
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.codegen import generate
    from tinyml_prune.harness.profile import ProfileConfig, profile

    generate(tflite.read_bytes(), root)
    board = make_board(load("qemu-m55"), exact=True)
    board.build(root)
    sources = json.loads((root / "board" / "board.json").read_text())["sources"]
    return profile(root, board, ProfileConfig(n=3, seed=1, tflite=str(tflite))), sources


@pytest.mark.parametrize("name", ["kws_ref_model", "ad01_int8"])
def test_fixture_bit_exact_on_m55(name, tmp_path):
    tflite = fixture_path(f"{name}.tflite")
    report, sources = profile_on_m55(tflite, tmp_path / name)
    assert "kernels/mve/tp_fully_connected_s8.c" in sources
    if name == "kws_ref_model":
        assert {"kernels/mve/tp_convolve_s8.c", "kernels/mve/tp_depthwise_conv_s8.c"} <= set(sources)
    assert report["bit_exact"] is True and report["mismatched_outputs"] == 0
    assert report["n"] == 3 and report["latency"]["unit"] == "instructions"


def test_digits_cnn_bit_exact_on_m55(digits_cnn_tflite, tmp_path):
    report, sources = profile_on_m55(digits_cnn_tflite, tmp_path / "digits")
    assert "kernels/mve/tp_convolve_s8.c" in sources
    assert report["bit_exact"] is True and report["mismatched_outputs"] == 0
