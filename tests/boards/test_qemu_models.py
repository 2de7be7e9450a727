"""QEMU tier: real generated models through the real firmware over the serial protocol,
every output byte compared with TFLite's reference kernels (BUILTIN_REF)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import fixture_path
from tinyml_prune.boards import load, make_board
from tinyml_prune.errors import BoardTimeout
from tinyml_prune.harness.profile import ProfileConfig, profile

from .conftest import needs_toolchain
from .models import generated, project_copy

pytestmark = pytest.mark.qemu

REPORT_KEYS = {"board", "model_sha256", "format", "latency", "flash_bytes", "ram_bytes", "arena_bytes",
               "stack_peak_bytes", "accuracy", "n", "bit_exact"}


@pytest.fixture(scope="module")
def digits_gen(tmp_path_factory, digits_cnn_tflite):
    return generated(tmp_path_factory, digits_cnn_tflite, "digits_cnn")


def run_on(board_name, gen, tmp_path, cfg, **board_options):
    needs_toolchain()
    board = make_board(load(board_name), **board_options)
    root = project_copy(gen, tmp_path / board_name)
    board.build(root)
    return profile(root, board, cfg)


def test_digits_on_qemu_m4_is_bit_exact_with_accuracy(digits_gen, tmp_path, digits_cnn_tflite):
    from tinyml_prune.quantize import tflite_accuracy

    r = run_on("qemu-m4", digits_gen, tmp_path, ProfileConfig(n=40, data="digits"), exact=True)
    assert REPORT_KEYS <= set(r)
    assert r["bit_exact"] is True and r["mismatched_outputs"] == 0 and r["n"] == 40
    ds_acc = tflite_accuracy(digits_cnn_tflite.read_bytes(), *_first(40))
    assert r["accuracy"] == r["tflite_accuracy"] == ds_acc
    lat = r["latency"]
    assert lat["unit"] == "instructions" and lat["counter"] == "qemu-tcg-plugin"
    # SysTick under icount agrees with the exact count to within its resolution + ISR noise
    sys_med = r["latency_systick"]["median"]
    assert abs(sys_med - lat["median"]) <= 2 * r["latency_systick"]["resolution"] + 200
    assert r["flash_bytes"] > json.loads((digits_gen / "manifest.json").read_text())["weight_bytes"]
    assert 0 < r["stack_peak_bytes"] < 16384
    assert r["ram_bytes"] >= r["arena_bytes"] + r["stack_peak_bytes"]
    md = (tmp_path / "qemu-m4" / "report.md").read_text()
    assert "bit-exact with TFLite (BUILTIN_REF) | True" in md


def _first(n):
    from tinyml_prune import data

    ds = data.load_digits()
    return ds.x_test[:n], ds.y_test[:n]


def test_kws_on_qemu_m4_is_bit_exact(tmp_path_factory, tmp_path):
    kws = generated(tmp_path_factory, fixture_path("kws_ref_model.tflite"), "kws")
    r = run_on("qemu-m4", kws, tmp_path, ProfileConfig(n=2, seed=1), exact=True)
    assert r["bit_exact"] is True and r["n"] == 2 and r["accuracy"] is None
    assert r["latency"]["median"] > 1_000_000  # KWS is millions of instructions


@pytest.mark.parametrize("board_name", ["qemu-m0", "qemu-m3", "qemu-m7", "qemu-m33", "qemu-m55"])
def test_digits_on_other_qemu_boards(digits_gen, tmp_path, board_name):
    r = run_on(board_name, digits_gen, tmp_path, ProfileConfig(n=3, seed=2))
    assert r["bit_exact"] is True, r
    assert r["latency"]["unit"] == "instructions" and r["latency"]["counter"] == "systick-icount"
    assert r["latency"]["median"] > 0


def test_silent_board_keeps_a_partial_report(digits_gen, tmp_path):
    needs_toolchain()
    board = make_board(load("qemu-m4"))
    root = project_copy(digits_gen, tmp_path / "p")
    board.build(root)
    board.command_extra = ["-S"]  # the CPU never starts: the port opens, nothing answers
    with pytest.raises(BoardTimeout):
        profile(root, board, ProfileConfig(n=2, seed=0, timeout_s=1.0))
    report = json.loads((root / "report.json").read_text())
    assert report["complete"] is False and "within 1.0 s" in report["error"]
    assert report["flash_bytes"] > 0 and report["n"] == 0 and report["bit_exact"] is None
    assert board.proc is None  # QEMU was killed


def test_cli_build_profile_and_errors(digits_gen, tmp_path):
    from tinyml_prune.cli import main

    needs_toolchain()
    root = project_copy(digits_gen, tmp_path / "p")
    assert main(["build", str(root), "--board", "qemu-m3"]) == 0
    assert main(["profile", str(root), "--board", "qemu-m3", "-n", "2", "--counter", "systick"]) == 0
    assert json.loads((root / "report.json").read_text())["bit_exact"] is True
    # a second run refuses to overwrite the report without --force
    assert main(["profile", str(root), "--board", "qemu-m3", "-n", "2"]) == 2
    assert main(["build", str(root), "--board", "no-such-board"]) == 2
    assert main(["build", str(tmp_path), "--board", "qemu-m4"]) == 2  # not a generated directory
