"""Latency-aware search for per-layer pruning ratios (the NetAdapt / AMC idea).

Goal: per-layer unstructured ratios that minimise the model's predicted board latency while
the measured accuracy drop stays within a budget. Latency and flash of a candidate are
*predicted* in the driver, without running anything: each CONV_2D / FULLY_CONNECTED layer is
quantized as our QAT does, its smallest-|w| fraction zeroed, and the code generator's
calibrated cost model (``codegen/formats/costmodel.py``: least-squares fits to exact
instruction counts on a board) gives the instructions of every weight format; the layer takes
its cheapest format (the ``--format auto`` rule) and that format's encoded bytes. Depthwise
layers stay dense in generated code, so their ratio cannot buy latency: they are not searched.
Accuracy is *measured*: every candidate is pruned (one shot, then ``recovery_epochs`` of
fine-tuning) and evaluated on the held-out test split, on the executor, in parallel.

The search (NetAdapt's loop): from the dense model, each step proposes one candidate per
layer — that layer moved to the smallest grid ratio above its current one that lowers the
predicted latency — evaluates all proposals at once, and keeps the feasible one (drop <=
budget) with the most latency saved per unit of added drop. A layer whose proposal breaks the
budget is frozen. The search ends when nothing is left to propose. Every evaluated candidate
is a point of the Pareto front (accuracy up, latency down, flash down).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import ModelError
from ..executors import ExecutorSpec, Progress, run_units
from .work import append_cache, default_cache_dir, load_blob, model_blob, read_cache

DEFAULT_GRID = (0.25, 0.5, 0.7, 0.8, 0.9)
CACHE_VERSION = 1


@dataclass(frozen=True)
class SearchConfig:
    accuracy_drop: float = 0.01     # budget: dense accuracy - candidate accuracy
    ratios: tuple = DEFAULT_GRID    # the grid each layer moves on
    recovery_epochs: int = 0        # fine-tuning of each candidate before it is measured
    seed: int = 0
    board: str = "qemu-m4"          # cost-model calibration (codegen/formats/costs/<board>.json)
    criterion: str = "l1"

    def key_fields(self) -> dict:
        return {"criterion": self.criterion, "seed": self.seed, "version": CACHE_VERSION}


@dataclass(frozen=True)
class Candidate:
    """Per-layer ratios (layer order) and the fine-tuning before measuring."""

    ratios: tuple  # ((layer, ratio), ...)
    recovery_epochs: int = 0

    def key(self) -> str:
        return json.dumps([[n, round(r, 6)] for n, r in self.ratios if r > 0] + [self.recovery_epochs])

    def as_dict(self) -> dict:
        return dict(self.ratios)

    def __repr__(self) -> str:
        return ",".join(f"{n}={r:g}" for n, r in self.ratios if r > 0) or "dense"


# ---------------------------------------------------------------- predicted latency and flash

@dataclass
class LayerModel:
    name: str
    searchable: bool
    instructions: dict  # ratio -> predicted instructions of the layer's kernel (best format)
    bytes: dict         # ratio -> weight bytes in that format
    format: dict        # ratio -> the format


def _geometry(layer):
    """A stand-in for the code generator's emitter: what the cost model reads from one."""
    kind = type(layer).__name__
    out = layer.output_shape
    if kind == "Dense":
        rows = int(np.prod(out[1:-1])) if len(out) > 2 else 1
        return SimpleNamespace(op=SimpleNamespace(opcode="FULLY_CONNECTED"), rows=rows, out_c=int(out[-1]))
    return SimpleNamespace(op=SimpleNamespace(opcode="CONV_2D"), out_dims=(1, *[int(d) for d in out[1:]]))


def layer_models(model, grid, board: str) -> dict[str, LayerModel]:
    from ..codegen.formats.costmodel import predictions
    from ..pruning.auto import _int8_kernel, format_bytes, magnitude_zeroed
    from ..pruning.layers import is_depthwise, prunable_layers

    out = {}
    for layer in prunable_layers(model):
        q = _int8_kernel(layer)
        if is_depthwise(layer):  # generated code keeps depthwise dense: no latency to buy
            out[layer.name] = LayerModel(layer.name, False, {0.0: 0.0}, {0.0: int(q.size)}, {0.0: "dense"})
            continue
        e = _geometry(layer)
        lm = LayerModel(layer.name, True, {}, {}, {})
        for r in (0.0, *grid):
            qz = magnitude_zeroed(q, r)
            pred = predictions(e, qz, board)
            fmt = min(pred, key=lambda f: (pred[f], f != "dense"))
            lm.instructions[r], lm.format[r], lm.bytes[r] = float(pred[fmt]), fmt, format_bytes(qz, fmt)
        out[layer.name] = lm
    return out


def predict(lms: dict[str, LayerModel], ratios: dict) -> tuple[float, int]:
    """(instructions, weight bytes) of the conv/FC kernels and all prunable weights."""
    lat = sum(lm.instructions[ratios.get(n, 0.0)] for n, lm in lms.items() if lm.searchable)
    flash = sum(lm.bytes[ratios.get(n, 0.0) if lm.searchable else 0.0] for n, lm in lms.items())
    return float(lat), int(flash)


# ---------------------------------------------------------------- the job (runs on workers)

def setup_state(payload: dict) -> dict:
    model = payload.get("model_obj") or load_blob(payload["model"])
    return {"model": model, "data": payload["data"], "config": payload["config"]}


def run_candidate(state: dict, cand: Candidate) -> dict:
    from ..pruning import auto
    from ..pruning.api import prune
    from ..pruning.config import FinetuneConfig, PruneConfig
    from .sweep import evaluate

    cfg: SearchConfig = state["config"]
    ds, model = state["data"], state["model"]
    info = {"ratios": cand.as_dict(), "criterion": cfg.criterion}
    pc = auto.apply_to_config(PruneConfig(criterion=cfg.criterion,
                                          finetune=FinetuneConfig(epochs=cand.recovery_epochs, seed=cfg.seed)),
                              info, model)
    pruned = prune(model, pc, ds)[0]
    row = {"unit": cand.key(), "ratios": {n: r for n, r in cand.ratios if r > 0}}
    row.update(evaluate(pruned, ds.x_test, ds.y_test, True))
    return row


# ---------------------------------------------------------------- the search

def pareto(points: list[dict]) -> list[int]:
    """Indices of the points no other point beats (>= accuracy, <= latency, <= flash, one strictly)."""
    front = []
    for i, p in enumerate(points):
        dominated = any(q["accuracy"] >= p["accuracy"] and q["latency"] <= p["latency"] and q["flash"] <= p["flash"]
                        and (q["accuracy"], -q["latency"], -q["flash"]) != (p["accuracy"], -p["latency"], -p["flash"])
                        for q in points)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i]["latency"], -points[i]["accuracy"]))


def search_key(model_path: str, data_spec: str, config: SearchConfig) -> str:
    from ..artifacts import sha256_file
    from .sweep import data_fingerprint

    blob = json.dumps({"kind": "latency-search", "model": sha256_file(model_path),
                       "data": data_fingerprint(data_spec), **config.key_fields()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def run_search(model_path: str, data_spec: str, config: SearchConfig = SearchConfig(),
               executor: ExecutorSpec | None = None, cache_dir: Path | None = None, progress: bool = True) -> dict:
    from .sweep import evaluate

    executor = executor or ExecutorSpec()
    model, ds = _load_checked(model_path, data_spec)
    grid = tuple(sorted({round(float(r), 6) for r in config.ratios}))
    lms = layer_models(model, grid, config.board)
    names = [n for n, lm in lms.items() if lm.searchable]
    if not names:
        raise ModelError(f"model {model.name!r} has no CONV_2D or FULLY_CONNECTED layer whose pruning changes latency")
    base = evaluate(model, ds.x_test, ds.y_test, True)
    eps = 1.0 / len(ds.y_test)  # one test sample: the resolution of a measured drop

    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_path = cache_dir / f"{search_key(model_path, data_spec, config)}.jsonl"
    done = read_cache(cache_path)
    payload = {"model": model_blob(model_path), "data": ds, "config": config}
    local_state = setup_state(dict(payload, model_obj=model)) if executor.kind == "local" else None
    computed = 0

    def cand(ratios: dict) -> Candidate:
        return Candidate(tuple((n, float(ratios.get(n, 0.0))) for n in names), config.recovery_epochs)

    current = {n: 0.0 for n in names}
    cur_lat, _ = predict(lms, current)
    cur_drop = 0.0
    frozen: set = set()
    evaluated: dict[str, dict] = {}
    steps = []
    bar = Progress("latency search", 0, 0, enabled=progress)
    try:
        while True:
            proposals = [cand(current | {n: r}) for n, r in _next_ratios(names, frozen, current, grid, lms)]
            if not proposals:
                break
            todo = [c for c in proposals if c.key() not in done]
            bar.grow(len(proposals), len(proposals) - len(todo))
            for c, row in run_units(executor, setup_state, run_candidate, payload, todo, state=local_state):
                append_cache(cache_path, row)
                done[c.key()] = row
                computed += 1
                bar.advance(repr(c))
            best = _best_step(proposals, done, lms, base, current, cur_lat, cur_drop, config, eps, frozen, evaluated)
            if best is None:
                break
            _, c, cur_lat, cur_drop = best
            current = c.as_dict()
            steps.append({"ratios": {n: r for n, r in c.ratios if r > 0}, "latency": cur_lat,
                          "accuracy": base["accuracy"] - cur_drop})
    finally:
        bar.close()
    return _result(model_path, data_spec, config, grid, lms, names, base, current, cur_drop, evaluated, steps,
                   cache_path, computed)


def _load_checked(model_path: str, data_spec: str):
    """The model (a classifier) and the data set, checked against each other."""
    from .. import data as data_mod
    from ..datacheck import check_against_model
    from ..modelio import load_model
    from ..pruning.criteria.base import is_classifier

    model = load_model(model_path)
    if not is_classifier(model):
        raise ModelError(f"model {model.name!r}: the latency search measures accuracy; it needs a classifier")
    ds = data_mod.load(data_spec)
    check_against_model(ds, model)
    return model, ds


def _next_ratios(names, frozen: set, current: dict, grid, lms):
    """(layer, its next ratio on the grid that lowers its predicted instructions) per layer not frozen."""
    for n in names:
        if n in frozen:
            continue
        nxt = next((r for r in grid if r > current[n]
                    and lms[n].instructions[r] < lms[n].instructions[current[n]]), None)
        if nxt is not None:
            yield n, nxt


def _best_step(proposals, done, lms, base, current, cur_lat, cur_drop, config, eps, frozen: set, evaluated: dict):
    """The proposal with the most latency saved per accuracy lost, as (efficiency, candidate, latency,
    drop), or None; records every proposal in ``evaluated`` and freezes the layers whose step costs
    more accuracy than allowed."""
    best = None
    for c in proposals:
        row = done[c.key()]
        lat, flash = predict(lms, c.as_dict())
        drop = base["accuracy"] - row["accuracy"]
        evaluated[c.key()] = {"ratios": {n: r for n, r in c.ratios if r > 0}, "accuracy": row["accuracy"],
                              "loss": row["loss"], "latency": lat, "flash": flash}
        changed = next(n for (n, r) in c.ratios if r != current[n])
        if drop > config.accuracy_drop + 1e-12:
            frozen.add(changed)
            continue
        eff = (cur_lat - lat) / max(drop - cur_drop, eps)
        if best is None or eff > best[0]:
            best = (eff, c, lat, drop)
    return best


def _result(model_path, data_spec, config, grid, lms, names, base, current, cur_drop, evaluated, steps,
            cache_path, computed) -> dict:
    from ..artifacts import sha256_file

    dense_lat, dense_flash = predict(lms, {})
    points = [{"ratios": {}, "accuracy": base["accuracy"], "loss": base["loss"], "latency": dense_lat,
               "flash": dense_flash}] + list(evaluated.values())
    front = pareto(points)
    chosen_lat, chosen_flash = predict(lms, current)
    return {
        "model": str(model_path), "model_sha256": sha256_file(model_path), "data": data_spec,
        "settings": asdict(config) | {"ratios": list(grid)},
        "objective": "minimise predicted instructions of the CONV_2D/FULLY_CONNECTED kernels "
                     f"(cost model {config.board}) with accuracy drop <= {config.accuracy_drop:g}",
        "baseline": {"accuracy": base["accuracy"], "latency": dense_lat, "flash": dense_flash},
        "chosen": {"ratios": {n: r for n, r in current.items() if r > 0}, "accuracy": base["accuracy"] - cur_drop,
                   "latency": chosen_lat, "flash": chosen_flash,
                   "formats": {n: lms[n].format[current[n]] for n in names}},
        "steps": steps, "points": points, "pareto": front,
        "cache": cache_path.name, "computed": computed, "evaluated": len(points) - 1,
    }


def pareto_table(result: dict) -> str:
    """Markdown: the Pareto front, fastest first, the chosen point marked."""
    b = result["baseline"]
    chosen = result["chosen"]["ratios"]
    lines = ["| latency (instr.) | vs dense | accuracy | drop | flash (B) | ratios |",
             "|---:|---:|---:|---:|---:|---|"]
    for i in result["pareto"]:
        p = result["points"][i]
        mark = " **(chosen)**" if p["ratios"] == chosen else ""
        ratios = ", ".join(f"{n} {r:g}" for n, r in p["ratios"].items()) or "dense"
        lines.append(f"| {p['latency']:,.0f} | {p['latency'] / b['latency']:.2f}x | {p['accuracy']:.4f} | "
                     f"{b['accuracy'] - p['accuracy']:+.4f} | {p['flash']:,} | {ratios}{mark} |")
    return "\n".join(lines) + "\n"
