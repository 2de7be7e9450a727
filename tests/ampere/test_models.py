"""Whole int8 models, layer by layer: the 2:4 path is bit-exact with the dense path and BUILTIN_REF."""
import json

import numpy as np
import pytest

from conftest import fixture_path, shared_artifact
from tinyml_prune.ampere import format as fmt
from tinyml_prune.ampere.check import check_model
from tinyml_prune.ampere.graph import read
from tinyml_prune.ampere.prune import prune_model_2to4
from tinyml_prune.ampere.report import ampere_markdown, ampere_section, speedup_chart


def _digits_2to4(keras_path):
    def build(path):
        from tinyml_prune import data
        from tinyml_prune.ampere.prune import prune_keras_2to4
        from tinyml_prune.modelio import load_model
        from tinyml_prune.quantize import convert_ptq

        ds = data.load_digits()
        model = load_model(keras_path)
        assert prune_keras_2to4(model) == ["pw3", "fc"]        # conv1 has Cin = 1: left dense
        path.write_bytes(convert_ptq(model, ds.calibration(200)))

    return build


@pytest.fixture(scope="session")
def digits_2to4_tflite(tmp_path_factory, digits_cnn_path):
    return shared_artifact(tmp_path_factory, "digits_cnn_2to4.tflite", _digits_2to4(digits_cnn_path))


@pytest.fixture(scope="session")
def kws_2to4():
    return prune_model_2to4(fixture_path("kws_ref_model.tflite"))


def test_digits_2to4_model_bit_exact(digits_2to4_tflite, digits):
    from tinyml_prune.quantize.ptq import quantize_input

    graph = read(digits_2to4_tflite)
    detail = {"quantization": (float(graph.tensors[graph.inputs[0]].scale[0]),
                               int(graph.tensors[graph.inputs[0]].zero_point[0])), "dtype": np.int8}
    x = quantize_input(digits.x_test[:6], detail)                       # real digits, quantized
    _, checks, skipped = check_model(digits_2to4_tflite, inputs=x)
    assert not skipped
    status = {c.layer.op.name + ":" + str(c.layer.k): c.is_2to4 for c in checks}
    assert status == {"CONV_2D:9": False, "CONV_2D:16": True, "FULLY_CONNECTED:512": True}
    for c in checks:
        assert c.samples == 6 and c.bit_exact, (c.layer.name, c.first_mismatch)
    not24 = [c for c in checks if not c.is_2to4][0]
    assert "is not 2:4 sparse" in not24.not_2to4 and "row " in not24.not_2to4


def test_kws_pruned_2to4_bit_exact(kws_2to4):
    orig = read(fixture_path("kws_ref_model.tflite"))
    pruned = read(kws_2to4)
    _, checks, _ = check_model(kws_2to4, samples=3)
    assert len(checks) == 6 and all(c.is_2to4 for c in checks)
    for c in checks:
        assert c.bit_exact, (c.layer.name, c.first_mismatch)
        assert c.sparse_mismatches == 0 and c.sparse_vs_dense == 0 and c.samples == 3
        # Exactly the pruned weights of the original (flatbuffer patched in place, same size).
        w0 = orig.tensors[c.layer.op.inputs[1]].data
        assert (c.layer.weights == fmt.prune_2to4(w0.reshape(w0.shape[0], -1))).all()
    assert len(kws_2to4) == len(fixture_path("kws_ref_model.tflite").read_bytes())
    # Non-GEMM constants (e.g. depthwise weights) are untouched.
    dw = [op for op in pruned.ops if op.name == "DEPTHWISE_CONV_2D"][0]
    assert (pruned.tensors[dw.inputs[1]].data == orig.tensors[dw.inputs[1]].data).all()


def test_unpruned_kws_is_reported_not_2to4():
    section = ampere_section(fixture_path("kws_ref_model.tflite"), samples=1)
    rows = [r for r in section["layers"] if r["status"] == "not 2:4"]
    assert len(rows) == 6 and section["model"]["layers_2to4"] == 0
    assert all("is not 2:4 sparse" in r["reason"] for r in rows)
    assert section["model"]["modeled_speedup"] == pytest.approx(1.0)
    assert section["model"]["bit_exact"]                    # the dense path is still checked


def test_report_section(kws_2to4, tmp_path):
    board = {"2": {"dense": 1000, "sparse": 640}, "model": {"dense": 7_000_000, "sparse": 5_000_000}}
    s = ampere_section(kws_2to4, samples=1, board=board)
    json.dumps(s)                                            # report.json-ready
    assert s["part"]["int8_sparse_tops"] == 2 * s["part"]["int8_dense_tops"]
    by_index = {r["index"]: r for r in s["layers"]}
    r2 = by_index[2]
    assert r2["status"] == "2:4" and r2["gemm"] == {"m": 64, "k": 64, "n": 125}
    assert (r2["bytes_values"], r2["bytes_metadata"]) == (64 * 32, 64 * 2 * 4)
    assert r2["macs_executed_sparse"] * 2 == r2["macs_dense"]
    assert r2["board"]["speedup"] == pytest.approx(1000 / 640) and by_index[4]["board"] is None
    # Every kernel pays the launch floor: at batch 1 these layers are all launch, 2:4 buys ~nothing.
    assert r2["modeled_dense_s"] >= s["part"]["launch_us"] * 1e-6
    assert 1.0 <= r2["modeled_speedup"] < 1.05 and r2["pays_from_batch"] is None
    assert r2["bit_exact"]["accumulators"] == 64 * 125
    assert r2["bit_exact"]["dense_accumulator_mismatches"] == r2["bit_exact"]["sparse_accumulator_mismatches"] == 0
    assert s["model"]["launch_floor_s"] == pytest.approx(s["model"]["kernels"] * s["part"]["launch_us"] * 1e-6)
    assert s["model"]["weight_bytes_2to4"] < s["model"]["weight_bytes_dense"]
    assert s["batch"] == 1 and s["gpu_measured"] is None and by_index[2]["gpu"] is None
    assert {o["op"] for o in s["other_ops"]} >= {"DEPTHWISE_CONV_2D", "SOFTMAX"}
    md = ampere_markdown(s)
    assert "| 2 | CONV_2D |" in md and "1.56×" in md and "Sources:" in md
    assert "kernel launches at 4.24 µs each" in md and "Calibration — measured on an NVIDIA H200" in md
    assert "| KWS 1x1 pointwise CONV_2D | 64×64×125 | 5.20 | 4.68 |" in md
    png = tmp_path / "speedup.png"
    speedup_chart(s, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli(kws_2to4, tmp_path):
    from tinyml_prune.cli import main

    model = tmp_path / "kws_2to4.tflite"
    model.write_bytes(kws_2to4)
    out = tmp_path / "out"
    assert main(["ampere", str(model), "-o", str(out), "--samples", "1"]) == 0
    sec = json.loads((out / "ampere.json").read_text())
    assert sec["model"]["layers_2to4"] == 6 and (out / "ampere_speedup.png").exists()
    assert main(["ampere", str(model), "-o", str(out), "--samples", "1"]) == 2      # refuses to overwrite
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 64)
    assert main(["ampere", str(bad)]) == 2


def test_section_at_a_part_and_batch(kws_2to4):
    one = ampere_section(kws_2to4, samples=1, part="h200-sxm")
    big = ampere_section(kws_2to4, samples=1, part="h200-sxm", batch=64)
    assert big["batch"] == 64 and big["part"]["name"] == "NVIDIA H200 SXM 141GB"
    r1 = {r["index"]: r for r in one["layers"]}[2]
    r64 = {r["index"]: r for r in big["layers"]}[2]
    assert r64["gemm"]["n"] == 64 * r1["gemm"]["n"] and r64["macs_dense"] == 64 * r1["macs_dense"]
    assert r64["modeled_dense_work_s"] > r1["modeled_dense_work_s"]
    assert "modeled at batch 64" in ampere_markdown(big)


def test_cli_part_and_batch(kws_2to4, tmp_path, capsys):
    from tinyml_prune.cli import main

    model = tmp_path / "kws_2to4.tflite"
    model.write_bytes(kws_2to4)
    assert main(["ampere", str(model), "--samples", "1", "--part", "a100-sxm4-80gb", "--batch", "8"]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA A100 SXM4 80GB, modeled at batch 8" in out and "×40×1000 |" in out
    assert main(["ampere", str(model), "--part", "v100"]) == 2
