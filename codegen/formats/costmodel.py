"""The ``auto`` format: per layer, the format with the fewest predicted instructions on the target.

Each kernel's cost is modelled as ``per_work · work + per_output · outputs + per_input ·
pixels · taps + per_window · outputs · Kh · Kw + per_call``, where ``work`` is the MACs a kernel
performs: all of them for dense, stored weights · pixels for the sparse formats (they skip
zeros); ``taps`` is a filter row's length (the receptive field a convolution gathers per
pixel) and the window term (convolutions only) the per-tap bookkeeping of the loops. The coefficients are non-negative least-squares fits to
exact instruction counts of kernel micro-benchmarks run on each QEMU board with the kernels
that board builds (``bench/calibrate.py`` writes ``costs/<board>.json``).

The table comes from the code generation target (``Target``, built from a board TOML): the
board's own table, else the table measured on a core with the same instructions and kernel
variant. Without a target (or for a core nothing was measured on) ``auto`` is conservative: a
format is chosen only where every board's table predicts it cheaper than dense. Dense is
always a candidate, and a sparse format must be predicted at least 5 % cheaper (``MARGIN``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .base import FormatError, get

COSTS = Path(__file__).resolve().parent / "costs"
CANDIDATES = ("dense", "csr", "bitmask", "nm")
#: the table whose instruction counts a target-less (worst-case) prediction is expressed in
REFERENCE_TABLE = "qemu-m4"
#: a sparse format must be predicted at most this fraction of dense: the fits are within a few
#: per cent on the calibration shapes, and a layer unlike them must not cost more than dense
MARGIN = 0.95
#: cores that run the same instructions as a calibrated one (ARMv6-M)
SAME_ISA = {"cortex-m0plus": "cortex-m0"}


@dataclass(frozen=True)
class Target:
    """What code generation knows of the board it generates for: name, core and extensions
    (the board build picks ``mve/`` then ``dsp/`` then the reference kernels from the same flags)."""

    board: str
    core: str
    dsp: bool = False
    mve: bool = False

    @classmethod
    def from_board(cls, config) -> "Target":
        """From a board configuration (``tinyml_prune.boards.load(name)``)."""
        return cls(config.name, config.core, bool(config.dsp), bool(config.mve))

    @property
    def variant(self) -> str:
        return "mve" if self.mve else "dsp" if self.dsp else "ref"

    @property
    def cost_table(self) -> str | None:
        """Name of the calibration ``auto`` uses for this target, or None (none measured: conservative)."""
        tables = all_tables()
        if self.board in tables and _matches(tables[self.board], self):
            return self.board
        for name, data in sorted(tables.items()):
            if _matches(data, self):
                return name
        return None


def _matches(data: dict, t: Target) -> bool:
    core = SAME_ISA.get(t.core, t.core)
    return data.get("core") == core and data.get("variant") == t.variant


@dataclass(frozen=True)
class KernelCost:
    per_work: float
    per_output: float
    per_call: float
    per_input: float = 0.0
    per_window: float = 0.0

    def predict(self, work: int, outputs: int, inputs: int = 0, windows: int = 0) -> float:
        return (self.per_work * work + self.per_output * outputs + self.per_input * inputs
                + self.per_window * windows + self.per_call)


@lru_cache(maxsize=None)
def _read_tables() -> tuple[tuple[str, str], ...]:
    return tuple((p.stem, p.read_text()) for p in sorted(COSTS.glob("*.json")))


def all_tables() -> dict[str, dict]:
    """Every calibration shipped in ``costs/``: board name -> its JSON."""
    return {name: json.loads(text) for name, text in _read_tables()}


@lru_cache(maxsize=None)
def load_costs(board: str) -> dict[str, KernelCost]:
    path = COSTS / f"{board}.json"
    if not path.exists():
        known = ", ".join(name for name, _ in _read_tables())
        raise FormatError(f"no cost calibration for board {board!r} (calibrated: {known}); "
                          "run bench/calibrate.py --boards " + board)
    data = json.loads(path.read_text())
    return {k: KernelCost(v["per_work"], v["per_output"], v["per_call"], v.get("per_input", 0.0),
                          v.get("per_window", 0.0)) for k, v in data["kernels"].items()}


def layer_geometry(e) -> tuple[int, int]:
    """(pixels, output channels) of an FC or CONV_2D emitter: pixels = rows for FC."""
    if e.op.opcode == "FULLY_CONNECTED":
        return e.rows, e.out_c
    n, oh, ow, oc = e.out_dims
    return n * oh * ow, oc


def kernel_key(opcode: str, fmt: str) -> str:
    return f"{'fc' if opcode == 'FULLY_CONNECTED' else 'conv'}_{fmt}"


def _table_predictions(e, w: np.ndarray, board: str) -> dict[str, float]:
    costs = load_costs(board)
    pixels, oc = layer_geometry(e)
    m = w.reshape(w.shape[0], -1)
    nnz = int(np.count_nonzero(m))
    # filter [Cout, Kh, Kw, Cin]: Kh*Kw window taps per output
    window = 0 if e.op.opcode == "FULLY_CONNECTED" else (int(w.shape[1] * w.shape[2]) if w.ndim == 4 else 1)
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
        out[fmt] = costs[key].predict(work, pixels * oc, pixels * m.shape[1], pixels * oc * window)
    return out


def resolve(target: "Target | str | None") -> str | None:
    """The cost table for ``target`` (a Target, a calibrated board name, or None), None = conservative."""
    if target is None:
        return None
    if isinstance(target, str):
        load_costs(target)  # a clear error for a board without calibration
        return target
    return target.cost_table


def predictions(e, w: np.ndarray, target: "Target | str | None" = None) -> dict[str, float]:
    """Predicted instructions of every format that can hold ``w``, for emitter ``e``.

    With a target: that board's table. Without one: the worst case over every calibrated
    board, in the reference table's instructions — a format's prediction is dense's on
    ``REFERENCE_TABLE`` times the largest ratio (format / dense) any board's table predicts."""
    table = resolve(target)
    if table is not None:
        return _table_predictions(e, w, table)
    per_board = {name: _table_predictions(e, w, name) for name, _ in _read_tables()}
    ref = per_board.get(REFERENCE_TABLE) or next(iter(per_board.values()))
    out = {"dense": ref["dense"]}
    for fmt in CANDIDATES[1:]:
        ratios = [p[fmt] / p["dense"] for p in per_board.values() if fmt in p and p["dense"] > 0]
        if ratios and len(ratios) == len(per_board):
            out[fmt] = ref["dense"] * max(ratios)
    return out


def choose(e, w: np.ndarray, target: "Target | str | None" = None) -> str:
    pred = predictions(e, w, target)
    best = min(pred, key=lambda f: (pred[f], f != "dense"))
    if best != "dense" and pred[best] > MARGIN * pred["dense"]:
        best = "dense"
    e.format_predictions = pred
    return best
