"""The DSP DEPTHWISE_CONV_2D's interior 3x3 loop (paired taps, one SMLAD each) and the
per-pixel loop beside it: odd channel counts (a scalar tail), runs longer than the
accumulator buffer, inputs only 1-3 pixels wide, padding on every side, stride 2,
dilation and 5x5 windows (the per-pixel loop); bit-exact with BUILTIN_REF on the host and
through the real firmware on QEMU."""
from __future__ import annotations

import numpy as np
import pytest

from codegen.opmodels import conv
from tinyml_prune.codegen.generate import generate
from tinyml_prune.verify import verify_host

# (h, w, c, kernel, stride, dilation, padding, activation)
SHAPES = {
    "3x3-s1-same-c8": (7, 9, 8, (3, 3), (1, 1), (1, 1), "SAME", "RELU"),
    "3x3-s1-valid-c12-wide": (5, 41, 12, (3, 3), (1, 1), (1, 1), "VALID", "NONE"),
    "3x3-s2-same-c7": (9, 10, 7, (3, 3), (2, 2), (1, 1), "SAME", "RELU6"),
    "3x3-s2-valid-c5": (8, 11, 5, (3, 3), (2, 2), (1, 1), "VALID", "NONE"),
    "3x3-s1-same-narrow-c4": (4, 2, 4, (3, 3), (1, 1), (1, 1), "SAME", "NONE"),
    "3x3-s1-same-w3-c6": (3, 3, 6, (3, 3), (1, 1), (1, 1), "SAME", "RELU"),
    "3x3-s1-same-1x1-c9": (1, 1, 9, (3, 3), (1, 1), (1, 1), "SAME", "NONE"),
    "3x3-dilated-c8": (9, 9, 8, (3, 3), (1, 1), (2, 2), "SAME", "NONE"),
    "5x5-s1-same-c6": (8, 7, 6, (5, 5), (1, 1), (1, 1), "SAME", "RELU"),
    "3x3-s2x1-same-c4": (6, 8, 4, (3, 3), (2, 1), (1, 1), "SAME", "NONE"),
}


def _model(name: str) -> bytes:
    h, w, c, k, stride, dil, pad, act = SHAPES[name]
    return conv(np.random.default_rng(sum(map(ord, name))), h, w, c, c, k, stride, dil, pad, act, depthwise=True)


def _inputs(tflite: bytes, n: int) -> np.ndarray:
    from tinyml_prune.verify import model_io, random_inputs

    return random_inputs((model_io(tflite)["input_bytes"],), n, seed=5)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_depthwise_shapes_bit_exact_on_host(name, tmp_path):
    tflite = _model(name)
    r = verify_host(tflite, _inputs(tflite, 3), workdir=tmp_path, sanitize=True)
    assert r.ok, r.mismatch


@pytest.mark.qemu
@pytest.mark.parametrize("board_name", ["qemu-m4", "qemu-m7", "qemu-m33"])
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_depthwise_shapes_bit_exact_on_qemu(name, board_name, tmp_path):
    from boards.conftest import needs_toolchain
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.harness.profile import ProfileConfig, profile

    needs_toolchain()
    tflite = _model(name)
    root = tmp_path / "gen"
    manifest = generate(tflite, root).manifest
    assert [layer.get("kernel_variant") for layer in manifest["layers"]] == ["fast"]
    (root / "model.tflite").write_bytes(tflite)
    board = make_board(load(board_name), exact=True)
    board.build(root)
    r = profile(root, board, ProfileConfig(n=4))
    assert r["bit_exact"] is True and r["mismatched_outputs"] == 0, r
