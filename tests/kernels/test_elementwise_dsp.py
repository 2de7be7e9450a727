"""The DSP variants of MEAN, ADD / SUB / SQUARED_DIFFERENCE and MUL (firmware/kernels/dsp/),
bit-exact with BUILTIN_REF through the real firmware: equal shapes with row lengths that are
not multiples of four, per-channel and per-pixel broadcasts (a constant or a graph input on
either side), scalars, fused activations (the clamped rows), a chain that runs in place, and
MEAN over spatial axes (channel groups of eight, four and single channels; more than 256
positions, where the int16 lanes are widened), over channels (contiguous sums) and over mixed
axes (the portable loop). Random scales and zero points per case; qemu-m4 for every case and
qemu-m55 (which uses the same DSP files) for a sample."""
from __future__ import annotations

import json

import numpy as np
import pytest

from codegen import opmodels_elementwise as om
from codegen import opmodels_reduce as rm
from helpers.boards import run_on_board

pytestmark = pytest.mark.qemu

# name -> (opcode, shape1, shape2, constant side, fused activation)
BINARY = {
    "mul-flat-odd": ("MUL", (1, 5, 7, 6), (1, 5, 7, 6), None, "NONE"),
    "mul-channel-gate": ("MUL", (1, 6, 6, 20), (1, 1, 1, 20), None, "NONE"),
    "mul-gate-first-const": ("MUL", (1, 1, 1, 12), (1, 4, 5, 12), 1, "RELU6"),
    "mul-pixel-gate": ("MUL", (1, 4, 6, 9), (1, 4, 6, 1), 2, "NONE"),
    "mul-scalar": ("MUL", (1, 3, 5, 7), (), None, "RELU"),
    "mul-outer": ("MUL", (3, 1, 5), (1, 4, 1), None, "NONE"),
    "add-flat-odd": ("ADD", (1, 7, 5, 11), (1, 7, 5, 11), None, "NONE"),
    "add-flat-relu": ("ADD", (2, 3, 4, 5), (2, 3, 4, 5), None, "RELU"),
    "add-channel-bias": ("ADD", (1, 5, 5, 16), (16,), 2, "NONE"),
    "add-channel-first": ("ADD", (1, 1, 1, 10), (1, 3, 4, 10), None, "RELU6"),
    "add-pixel": ("ADD", (1, 4, 5, 1), (1, 4, 5, 8), None, "NONE"),
    "sub-flat": ("SUB", (1, 6, 5, 7), (1, 6, 5, 7), None, "NONE"),
    "sub-channel": ("SUB", (1, 4, 4, 9), (1, 1, 1, 9), 2, "RELU"),
    "sub-pixel-first": ("SUB", (1, 3, 5, 1), (1, 3, 5, 6), None, "NONE"),
    "squared-difference-flat": ("SQUARED_DIFFERENCE", (1, 5, 5, 9), (1, 5, 5, 9), None, "NONE"),
    "squared-difference-channel": ("SQUARED_DIFFERENCE", (1, 4, 4, 6), (1, 1, 1, 6), 2, "NONE"),
}

# name -> (shape, axes, keep_dims)
MEAN = {
    "mean-gap-c13": ((1, 6, 6, 13), [1, 2], True),
    "mean-gap-c32-flat": ((1, 5, 7, 32), [1, 2], False),
    "mean-gap-300-positions": ((1, 20, 15, 12), [1, 2], True),
    "mean-batch2-c8": ((2, 3, 4, 8), [1, 2], True),
    "mean-rows-c5": ((1, 4, 6, 5), [2], False),
    "mean-channels-37": ((1, 3, 4, 37), [3], True),
    "mean-channels-6": ((1, 5, 5, 6), [-1], False),
    "mean-h-and-c": ((1, 3, 4, 5), [1, 3], True),
    "mean-all": ((1, 4, 4, 3), [0, 1, 2, 3], False),
}

M55_SAMPLE = ("mul-channel-gate", "mul-flat-odd", "add-flat-odd", "add-channel-first", "sub-channel",
              "squared-difference-flat", "mean-gap-c13", "mean-channels-37")


def _model(name: str) -> bytes:
    rng = np.random.default_rng(sum(map(ord, name)))
    if name in BINARY:
        opcode, s1, s2, const_side, act = BINARY[name]
        return om.binary(rng, opcode, s1, s2, const_side, act)
    if name == "chain-in-place":
        return om.gated_residual(rng, 5, 6, 10)
    shape, axes, keep = MEAN[name]
    return rm.reduce(rng, shape, axes, keep)


def _uses_dsp(root, names) -> None:
    sources = json.loads((root / "board" / "board.json").read_text())["sources"]
    for n in names:
        assert f"kernels/dsp/{n}" in sources, sources


def _check(name: str, board: str, tmp_path) -> None:
    root = tmp_path / "gen"
    report = run_on_board(_model(name), root, board, n=4)
    assert report["bit_exact"] is True and report["mismatched_outputs"] == 0, report
    if name.startswith("mean"):
        _uses_dsp(root, ["tp_reduce_s8.c"])
    elif name.startswith("mul"):
        _uses_dsp(root, ["tp_elementwise_mul_s8.c"])
    elif name.startswith("chain"):
        _uses_dsp(root, ["tp_elementwise_mul_s8.c", "tp_elementwise_add_s8.c"])
    else:
        _uses_dsp(root, ["tp_elementwise_add_s8.c"])


ALL = sorted(BINARY) + sorted(MEAN) + ["chain-in-place"]


@pytest.mark.parametrize("name", ALL)
def test_dsp_variant_bit_exact_on_qemu_m4(name, tmp_path):
    _check(name, "qemu-m4", tmp_path)


@pytest.mark.parametrize("name", M55_SAMPLE)
def test_dsp_variant_bit_exact_on_qemu_m55(name, tmp_path):
    _check(name, "qemu-m55", tmp_path)
