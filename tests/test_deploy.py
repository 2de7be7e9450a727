"""`tinyml deploy`: the whole chain on qemu-m4, every artifact kept, report honest."""
import json
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.qemu


def tinyml(*args):
    return subprocess.run([sys.executable, "-m", "tinyml_prune.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, digits_cnn_path):
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("arm-none-eabi-gcc / qemu-system-arm not installed (run make setup)")
    out = tmp_path_factory.mktemp("deploy") / "out"
    r = tinyml("deploy", str(digits_cnn_path), "--data", "digits", "--board", "qemu-m4",
               "--granularity", "nm", "--nm", "2:4", "--finetune-epochs", "1", "--qat-epochs", "1",
               "-n", "40", "-o", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r


def test_every_stage_leaves_its_artifact(deployed):
    out, _ = deployed
    for name in ("pruned.keras", "pruned.prune.json", "model_int8.tflite", "model_int8.tflite.report.json",
                 "model_int8.tflite.md", "firmware/manifest.json", "firmware/Makefile",
                 "firmware/build/firmware.elf", "report.json", "report.md", "deploy.json"):
        assert (out / name).exists(), name
    log = json.loads((out / "deploy.json").read_text())
    assert list(log["stages"]) == ["train", "prune", "quantize", "codegen", "build", "profile"]
    assert log["config"]["prune"]["nm"] == "2:4" and log["config"]["quantize"]["method"] == "qat"


def test_report_is_bit_exact_and_accuracy_matches_tflite(deployed):
    from tinyml_prune import data
    from tinyml_prune.quantize.ptq import run_tflite

    out, _ = deployed
    rep = json.loads((out / "report.json").read_text())
    for key in ("board", "model_sha256", "format", "latency", "flash_bytes", "ram_bytes", "arena_bytes",
                "stack_peak_bytes", "accuracy", "n", "bit_exact"):
        assert key in rep, key
    assert rep["bit_exact"] is True and rep["n"] == 40 and rep["latency"]["unit"] == "instructions"
    assert rep["latency"]["min"] <= rep["latency"]["median"] <= rep["latency"]["max"]
    ds = data.load_digits()
    pred = run_tflite((out / "model_int8.tflite").read_bytes(), ds.x_test[:40])
    assert rep["accuracy"] == pytest.approx(float((pred.argmax(axis=1) == ds.y_test[:40]).mean()))


def test_2_4_pattern_survives_into_the_int8_model(deployed):
    out, _ = deployed
    q = json.loads((out / "model_int8.tflite.report.json").read_text())
    assert all(r["zeros_identical"] for r in q["layers"])
    assert any(r["nm_float"] == "2:4" and r["nm_int8_intact"] for r in q["layers"])


def test_refuses_a_non_empty_output_and_a_bad_board(deployed, tmp_path, digits_cnn_path):
    out, _ = deployed
    r = tinyml("deploy", str(digits_cnn_path), "-o", str(out))
    assert r.returncode == 2 and "--force" in r.stderr and "Traceback" not in r.stderr
    r = tinyml("deploy", str(digits_cnn_path), "--board", "qemu-m99", "-o", str(tmp_path / "x"))
    assert r.returncode == 2 and "qemu-m99" in r.stderr and "Traceback" not in r.stderr
