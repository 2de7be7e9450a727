"""QEMU tier: models whose convolutions run in place, through the real firmware with the
board's kernel variant (DSP on qemu-m4, MVE on qemu-m55), every output byte compared with
TFLite (BUILTIN_REF); KWS's measured RAM against the 0.6x-of-TFLM target."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import fixture_path
from tinyml_prune.codegen import CodegenOptions, generate
from tinyml_prune.harness.profile import ProfileConfig, profile

from . import chain

pytestmark = pytest.mark.qemu

# TFLM + CMSIS-NN on qemu-m4, kws_ref_model.tflite: data + bss (arena 22,832) + painted stack,
# measured outside this repository (docs/baselines.md). The target is <= 0.6x of it.
TFLM_KWS_RAM = 24_648


def run(board_name: str, tfl: bytes, root, options: CodegenOptions, n: int = 4) -> dict:
    from tinyml_prune.boards import load, make_board

    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    result = generate(tfl, root, options)
    (root / "model.tflite").write_bytes(tfl)
    assert result.program.plan.bands, "no layer ran in place"
    board = make_board(load(board_name), exact=True)
    board.build(root)
    return profile(root, board, ProfileConfig(n=n))


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m55"])
def test_kws_in_place_bit_exact_and_within_the_ram_target(board, tmp_path):
    tfl = fixture_path("kws_ref_model.tflite").read_bytes()
    r = run(board, tfl, tmp_path / "kws", CodegenOptions())
    assert r["bit_exact"] is True and r["mismatched_outputs"] == 0
    assert r["ram_bytes"] == r["sizes"]["data"] + r["sizes"]["bss"] + r["stack_peak_bytes"]
    assert r["sizes"]["bss"] >= r["arena_bytes"]
    if board == "qemu-m4":
        assert r["ram_bytes"] <= 0.6 * TFLM_KWS_RAM, r["ram_bytes"]


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m55"])
def test_random_in_place_chain_bit_exact_on_the_optimized_kernels(board, tmp_path):
    # 20 channels: DSP groups of 4 and MVE's 16 lanes both get a tail; stride 2 and dilation
    # 2 change the band geometry; 6 bands leave rows pending between calls.
    L = chain.Layer
    layers = [L(True, (3, 3), (1, 1), (1, 1), "SAME", "RELU"),
              L(False, (1, 1), (1, 1), (1, 1), "VALID", "RELU6", 20),
              L(True, (3, 3), (2, 1), (1, 1), "SAME", "NONE"),
              L(False, (3, 1), (1, 1), (2, 1), "SAME", "RELU", 16),
              L(True, (5, 3), (1, 1), (1, 1), "VALID", "RELU")]
    tfl = chain.chain(np.random.default_rng(11), 23, 5, 1, 20, layers, 6)
    r = run(board, tfl, tmp_path / "chain", CodegenOptions(in_place_bands=6), n=6)
    assert r["bit_exact"] is True and r["mismatched_outputs"] == 0
