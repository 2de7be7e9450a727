"""`--format auto` is never slower than dense, on every QEMU board, with and without --board.

For each board, every FC / CONV_2D layer of a few 90 %-pruned models (the MLPerf Tiny fixtures
and two small zoo models) runs alone on QEMU in one program, built as the board builds its
kernels (tests run bench/calibrate.py's runner): dense, the format auto chose with the board's
calibration, and the one it chose without a board. Exact instruction counts; every case is
bit-exact with the host reference kernels. Layers other than FC / CONV_2D are the same code
in both builds, so per-layer "never slower" gives it for the whole model.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from conftest import shared_artifact
from tests.formats import qemu_runner as Q

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures" / "mlperf_tiny"
BOARDS = ["qemu-m0", "qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55"]
ZOO = ["gap_head", "conv1d_audio"]

pytestmark = [pytest.mark.qemu, pytest.mark.skipif(not Q.tools_available(), reason="needs arm-none-eabi-gcc and qemu")]


def _calibrate():
    spec = importlib.util.spec_from_file_location("bench_calibrate", REPO / "bench" / "calibrate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from tinyml_prune.codegen.formats.sparsify import prune_tflite

    out = {}
    for name in ("ad01_int8", "kws_ref_model"):
        if (FIXTURES / f"{name}.tflite").exists():
            out[f"{name}@90%"] = prune_tflite((FIXTURES / f"{name}.tflite").read_bytes(), "unstructured", 0.9)
    for name in ZOO:
        def build(path, name=name):
            from tinyml_prune import zoo

            path.write_bytes(zoo.build_int8(name))

        t = shared_artifact(tmp_path_factory, f"zoo-{name}.tflite", build).read_bytes()
        out[f"{name}@90%"] = prune_tflite(t, "unstructured", 0.9)
    return out


@pytest.mark.parametrize("board", BOARDS)
def test_auto_is_never_slower_than_dense(board, models, tmp_path):
    rows = _calibrate().check_models(models, board, tmp_path)
    assert rows
    slower, sparse = [], 0
    for r in rows:
        assert r["bit_exact"], f"{board}: {r['model']} operator {r['operator']} differs from the reference"
        dense = r["measured"]["dense"]
        for label, fmt in r["choices"].items():
            sparse += fmt != "dense"
            if r["measured"][fmt] > dense:
                slower.append(f"{r['model']} operator {r['operator']} ({r['op']}), auto for {label}: {fmt} "
                              f"{r['measured'][fmt]:,} > dense {dense:,}")
    assert not slower, f"{board}: " + "; ".join(slower)
    if board != "qemu-m55":  # on the M55 MVE dense is the fastest kernel for these layers
        assert sparse, f"{board}: auto kept every layer dense"


def test_each_board_has_its_own_calibration():
    from tinyml_prune.boards import load
    from tinyml_prune.codegen.formats.costmodel import Target

    for board in BOARDS:
        assert Target.from_board(load(board)).cost_table == board
    # a board without its own table takes the one measured on the same instructions and kernels
    assert Target("some-board", "cortex-m4", dsp=True).cost_table in ("qemu-m4",)
    assert Target("pico", "cortex-m0plus").cost_table == "qemu-m0"
    assert Target("m4-without-dsp", "cortex-m4").cost_table is None  # conservative


def test_codegen_board_option_reaches_auto(tmp_path):
    import json

    from tinyml_prune.cli import main

    model = FIXTURES / "ad01_int8.tflite"
    if not model.exists():
        pytest.skip("fixture ad01_int8.tflite absent")
    from tinyml_prune.codegen.formats.sparsify import prune_tflite

    src = tmp_path / "ad01_90.tflite"
    src.write_bytes(prune_tflite(model.read_bytes(), "unstructured", 0.9))
    formats = {}
    for board in ("qemu-m4", "qemu-m55", None):
        out = tmp_path / f"g-{board}"
        args = ["codegen", str(src), "-o", str(out), "--format", "auto"] + (["--board", board] if board else [])
        assert main(args) == 0
        m = json.loads((out / "manifest.json").read_text())
        assert (m["target"] or {}).get("cost_table") == board
        formats[board] = [r["format"] for r in m["layers"] if "predicted" in r]
    assert "csr" in formats["qemu-m4"]
    assert set(formats["qemu-m55"]) == {"dense"}  # MVE dense beats CSR at 90 % on every ad01 layer
    assert formats[None] == formats["qemu-m55"] or set(formats[None]) <= set(formats["qemu-m4"]) | {"dense"}
