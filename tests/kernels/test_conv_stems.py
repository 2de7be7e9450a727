"""The optimized CONV_2D's patch paths: stems (Cin = 1, 3) and other patches whose length is
not a multiple of 4 (rows that run on into the next channel's weights against zero-padded
taps, the scalar tail on the last channel pair), windows clipped by padding, dilation and
stride; bit-exact with BUILTIN_REF through the real firmware on QEMU."""
from __future__ import annotations

import numpy as np
import pytest

from codegen.opmodels import conv
from tinyml_prune.codegen.generate import generate
from tinyml_prune.verify import verify_host

# (h, w, cin, cout, kernel, stride, dilation, padding, activation)
SHAPES = {
    "rgb-3x3-s2-same": (13, 11, 3, 8, (3, 3), (2, 2), (1, 1), "SAME", "RELU"),
    "mono-3x3-same-odd-cout": (9, 10, 1, 7, (3, 3), (1, 1), (1, 1), "SAME", "NONE"),
    "mono-5x5-valid": (10, 9, 1, 5, (5, 5), (1, 1), (1, 1), "VALID", "RELU6"),
    "rgb-7x7-s2-same": (15, 14, 3, 6, (7, 7), (2, 2), (1, 1), "SAME", "NONE"),
    "cin2-3x3-dilated": (9, 9, 2, 3, (3, 3), (1, 1), (2, 2), "SAME", "RELU"),
    "cin5-1x1": (5, 7, 5, 9, (1, 1), (1, 1), (1, 1), "VALID", "NONE"),
    "cin1-1x1-cout2": (6, 5, 1, 2, (1, 1), (1, 1), (1, 1), "VALID", "NONE"),
}


def _model(name: str) -> bytes:
    h, w, cin, cout, k, stride, dil, pad, act = SHAPES[name]
    return conv(np.random.default_rng(sum(map(ord, name))), h, w, cin, cout, k, stride, dil, pad, act)


def _inputs(tflite: bytes, n: int) -> np.ndarray:
    from tinyml_prune.verify import model_io, random_inputs

    return random_inputs((model_io(tflite)["input_bytes"],), n, seed=3)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_stem_shapes_bit_exact_on_host(name, tmp_path):
    tflite = _model(name)
    r = verify_host(tflite, _inputs(tflite, 3), workdir=tmp_path, sanitize=True)
    assert r.ok, r.mismatch


@pytest.mark.qemu
@pytest.mark.parametrize("board_name", ["qemu-m4", "qemu-m55"])
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_stem_shapes_bit_exact_on_qemu(name, board_name, tmp_path):
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
