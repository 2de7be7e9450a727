"""No silent fallback: the MVE kernels refuse to compile without MVE, and the board build
for qemu-m55 (mve = true) picks them while other cores do not."""
from __future__ import annotations

import json
import subprocess

import pytest

from formats import ckernels as K
from formats import qemu_runner as Q

pytestmark = pytest.mark.skipif(not Q.tools_available(), reason="arm-none-eabi-gcc/qemu absent")

MVE_FILES = sorted((K.KERNELS / "mve").glob("*.c"))


@pytest.mark.parametrize("flags", [["-mcpu=cortex-m4", "-mfloat-abi=hard"], ["-mcpu=cortex-m55", "-mfloat-abi=soft"],
                                   ["-mcpu=cortex-m55+nomve", "-mfloat-abi=hard"]], ids=["m4", "m55-softfloat", "m55-nomve"])
def test_mve_kernels_error_without_mve(flags, tmp_path):
    assert [p.name for p in MVE_FILES] == ["tp_convolve_s8.c", "tp_depthwise_conv_s8.c", "tp_fully_connected_s8.c"]
    for src in MVE_FILES:
        r = subprocess.run(["arm-none-eabi-gcc", *flags, "-mthumb", "-c", f"-I{K.KERNELS / 'include'}",
                            f"-I{K.KERNELS / 'mve'}", str(src), "-o", str(tmp_path / "x.o")],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "firmware/kernels/mve needs a core with MVE" in r.stderr, (src.name, r.stderr)


def test_board_build_picks_mve_only_on_m55(digits_cnn_tflite, tmp_path):
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.codegen import generate

    chosen = {}
    for board_name in ("qemu-m55", "qemu-m4"):
        root = tmp_path / board_name
        generate(digits_cnn_tflite.read_bytes(), root)
        make_board(load(board_name), exact=True).build(root)
        chosen[board_name] = json.loads((root / "board" / "board.json").read_text())["sources"]
    m55 = [s for s in chosen["qemu-m55"] if s.startswith("kernels/")]
    assert "kernels/mve/tp_convolve_s8.c" in m55 and "kernels/mve/tp_fully_connected_s8.c" in m55
    assert not any(s.startswith("kernels/mve/") for s in chosen["qemu-m4"])
