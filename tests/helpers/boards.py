"""Run a generated model through the real firmware on an emulated board."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def needs_board_tools() -> None:
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make setup installs them)")


def run_on_board(model: bytes, root: Path, board: str = "qemu-m4", n: int = 4, seed: int = 3, options=None) -> dict:
    """Generate, build and profile ``model`` on ``board``: the profile report (every output byte
    compared with TFLite's BUILTIN_REF on ``n`` random inputs)."""
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.codegen import CodegenOptions, generate
    from tinyml_prune.harness.profile import ProfileConfig, profile

    needs_board_tools()
    generate(model, root, options or CodegenOptions())
    (root / "model.tflite").write_bytes(model)
    b = make_board(load(board))
    b.build(root)
    return profile(root, b, ProfileConfig(n=n, seed=seed))


def assert_bit_exact_on_board(model: bytes, tmp_path: Path, board: str = "qemu-m4", n: int = 4) -> dict:
    report = run_on_board(model, tmp_path / "gen", board, n)
    assert report["bit_exact"] is True and report["n"] == n, report
    return report
