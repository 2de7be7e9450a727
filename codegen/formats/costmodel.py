"""The ``auto`` format: per layer, the format with the fewest predicted instructions.

Each kernel's cost is modelled as ``per_work · work + per_output · outputs + per_call``,
where ``work`` is the MACs a kernel performs: all of them for dense, ``nnz · pixels`` for
the sparse formats (they skip zeros). The coefficients are least-squares fits to exact
instruction counts of micro-benchmarks run on a board (``bench/formats.py --calibrate``
writes ``costs/<board>.json``). Dense is always a candidate and wins ties, so a format is
only chosen when the model predicts it strictly cheaper.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .base import FormatError, get

COSTS = Path(__file__).resolve().parent / "costs"
DEFAULT_BOARD = "qemu-m4"
CANDIDATES = ("dense", "csr", "bitmask", "nm")


@dataclass(frozen=True)
class KernelCost:
    per_work: float
    per_output: float
    per_call: float

    def predict(self, work: int, outputs: int) -> float:
        return self.per_work * work + self.per_output * outputs + self.per_call


@lru_cache(maxsize=None)
def load_costs(board: str = DEFAULT_BOARD) -> dict[str, KernelCost]:
    path = COSTS / f"{board}.json"
    if not path.exists():
        raise FormatError(f"no cost calibration for board {board!r} ({path}); run bench/formats.py --calibrate")
    data = json.loads(path.read_text())
    return {k: KernelCost(**v) for k, v in data["kernels"].items()}


def layer_geometry(e) -> tuple[int, int]:
    """(pixels, output channels) of an FC or CONV_2D emitter: pixels = rows for FC."""
    if e.op.opcode == "FULLY_CONNECTED":
        return e.rows, e.out_c
    n, oh, ow, oc = e.out_dims
    return n * oh * ow, oc


def kernel_key(opcode: str, fmt: str) -> str:
    return f"{'fc' if opcode == 'FULLY_CONNECTED' else 'conv'}_{fmt}"


def predictions(e, w: np.ndarray, board: str = DEFAULT_BOARD) -> dict[str, float]:
    """Predicted instructions of every format that can hold ``w``, for emitter ``e``."""
    costs = load_costs(board)
    pixels, oc = layer_geometry(e)
    m = w.reshape(w.shape[0], -1)
    nnz = int(np.count_nonzero(m))
    out = {}
    for fmt in CANDIDATES:
        key = kernel_key(e.op.opcode, fmt)
        if key not in costs or (fmt != "dense" and not get(fmt).accepts(m)):
            continue
        if fmt == "dense":
            work = pixels * m.size
        elif fmt == "nm":
            work = pixels * get("nm").encode(m).arrays["values"].size  # stored slots, zeros included
        else:
            work = pixels * nnz
        out[fmt] = costs[key].predict(work, pixels * oc)
    return out


def choose(e, w: np.ndarray, board: str = DEFAULT_BOARD) -> str:
    pred = predictions(e, w, board)
    best = min(pred, key=lambda f: (pred[f], f != "dense"))
    e.format_predictions = pred
    return best
