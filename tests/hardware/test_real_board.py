"""Hardware tier: the digits CNN on a real board over its serial port, bit-exact with TFLite.

Runs only with `pytest --board nucleo-l4r5zi [--port /dev/ttyACM0]` on a machine with that
board attached; otherwise skipped with the reason.
"""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.requires_hardware


def tinyml(*args):
    r = subprocess.run([sys.executable, "-m", "tinyml_prune.cli", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_digits_cnn_on_the_board(request, tmp_path, digits_cnn_tflite):
    board = request.config.getoption("--board")
    port = request.config.getoption("--port")
    port_args = ["--port", port] if port else []
    fw = tmp_path / "fw"
    tinyml("codegen", str(digits_cnn_tflite), "-o", str(fw))
    tinyml("build", str(fw), "--board", board)
    tinyml("flash", str(fw), "--board", board, *port_args)
    tinyml("profile", str(fw), "--board", board, *port_args, "--data", "digits", "-n", "50",
           "--tflite", str(digits_cnn_tflite), "-o", str(tmp_path / "report.json"))
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["bit_exact"] is True and rep["n"] == 50
    assert rep["latency"]["unit"] == "cycles" and rep["latency"]["median"] > 0
