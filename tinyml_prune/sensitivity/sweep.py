"""Sensitivity sweep: prune one layer at a time at each ratio and measure on held-out data.

Work units are ``(layer, granularity, ratio, recovery epochs)``: every unit is independent, so
units run on an executor (``tinyml_prune.executors``: this process, local worker processes or
Ray); the model file and the data travel once. Finished units are appended to a JSON-lines
cache named by a hash of the model file, the data and the settings that are not part of a unit;
re-running an interrupted sweep (with either executor) computes only the missing units, and
adding ratios reuses the old ones.

With ``recovery_epochs > 0`` each unit fine-tunes the pruned copy (mask kept, seeded) before
it is measured; without, the curve is the damage of pruning alone.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, ModelError
from ..executors import ExecutorSpec, Progress, run_units
from .work import append_cache, default_cache_dir, load_blob, model_blob, read_cache

DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CACHE_VERSION = 2


@dataclass(frozen=True)
class SweepConfig:
    granularity: str = "unstructured"  # unstructured | nm | channel
    criterion: str = "l1"
    ratios: tuple = DEFAULT_RATIOS
    nm: tuple = (2, 4)
    holdout: float = 0.25  # probe data only: held-out probe inputs relative to the criterion's
    criterion_options: dict = field(default_factory=dict)
    recovery_epochs: int = 0  # fine-tuning of each pruned copy before it is measured
    seed: int = 0             # seed of that fine-tuning

    def key_fields(self) -> dict:
        """Settings that change a unit's result and are not part of the unit itself."""
        return {"criterion": self.criterion, "nm": list(self.nm), "holdout": self.holdout,
                "criterion_options": dict(sorted(self.criterion_options.items())), "seed": self.seed,
                "version": CACHE_VERSION}

    def points_ratios(self) -> tuple:
        if self.granularity == "nm":  # the pattern fixes the ratio: one point per layer
            return (round(1 - self.nm[0] / self.nm[1], 6),)
        return tuple(self.ratios)

    def units(self, layers: list[str]) -> list["Unit"]:
        return [Unit(n, self.granularity, round(float(r), 6), self.recovery_epochs)
                for n in layers for r in self.points_ratios()]


@dataclass(frozen=True)
class Unit:
    """One evaluation: ``layer`` pruned alone at ``ratio`` (then ``recovery_epochs`` of fine-tuning)."""

    layer: str
    granularity: str
    ratio: float
    recovery_epochs: int = 0

    def key(self) -> str:
        return f"{self.layer}|{self.granularity}|{self.ratio:.6f}|{self.recovery_epochs}"

    def __repr__(self) -> str:
        rec = f"+{self.recovery_epochs}ep" if self.recovery_epochs else ""
        return f"{self.layer}@{self.ratio:g}/{self.granularity}{rec}"


# ---------------------------------------------------------------- data and metrics

def load_split(model, data_spec: str, holdout: float):
    """(train data for data-driven criteria, x_val, y_val, classifier?)."""
    from ..pruning.criteria.base import is_classifier

    classifier = is_classifier(model)
    if data_spec.startswith("probe"):
        from ..pruning.probe_data import probe_dataset

        n = int(data_spec.split(":", 1)[1]) if ":" in data_spec else 512
        x_train, x_val = probe_dataset(model, n, max(64, int(n * holdout)))
        y_val = model.predict(x_val, batch_size=256, verbose=0)
        if classifier:
            y_val = y_val.argmax(-1)
        return (x_train, None), x_val, y_val, classifier
    from .. import data as data_mod

    ds = data_mod.load(data_spec)
    if tuple(ds.input_shape) != tuple(model.input_shape[1:]):
        raise DataError(f"data {ds.name!r} has inputs {ds.input_shape}, model {model.name!r} expects "
                        f"{tuple(model.input_shape[1:])} (use --data probe for models without data)")
    # The test split: data the model was not trained on (a slice of the training set would
    # flatter every point — the digits models reach 100 % there).
    return ds, ds.x_test, ds.y_test, classifier


def evaluate(model, x: np.ndarray, y: np.ndarray, classifier: bool) -> dict:
    pred = model.predict(x, batch_size=256, verbose=0)
    if classifier:
        p = pred
        if not np.allclose(p.sum(-1), 1.0, atol=1e-3):  # logits
            e = np.exp(p - p.max(-1, keepdims=True))
            p = e / e.sum(-1, keepdims=True)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))
        return {"accuracy": float((pred.argmax(-1) == y).mean()), "loss": loss}
    return {"accuracy": float("nan"), "loss": float(np.mean((pred.reshape(y.shape) - y) ** 2))}


# ---------------------------------------------------------------- the job (runs on workers)

def setup_state(payload: dict) -> dict:
    """Build a worker's state from the payload: the model and the data, once per process."""
    model = payload.get("model_obj") or load_blob(payload["model"])
    train, x_val, y_val, classifier = payload["split"]
    return {"config": payload["config"], "model": model, "train": train, "x_val": x_val, "y_val": y_val,
            "classifier": classifier}


def prune_unit(model, unit: Unit, cfg: SweepConfig, train):
    """The model with only ``unit.layer`` pruned, fine-tuned ``unit.recovery_epochs`` epochs."""
    from dataclasses import replace

    from ..pruning.api import prune, prune_layer
    from ..pruning.config import FinetuneConfig, LayerConfig, config_from_dict
    from ..pruning.layers import prunable_layers

    if not unit.recovery_epochs:
        return prune_layer(model, unit.layer, unit.ratio, criterion=cfg.criterion, granularity=unit.granularity,
                           data=train, nm=tuple(cfg.nm), criterion_options=dict(cfg.criterion_options))
    names = [l.name for l in prunable_layers(model)]
    pc = config_from_dict({"granularity": unit.granularity, "sparsity": unit.ratio, "nm": tuple(cfg.nm),
                           "criterion": cfg.criterion, "criterion_options": dict(cfg.criterion_options),
                           "include_depthwise": True}, "sensitivity")
    other = LayerConfig(sparsity=0.0) if unit.granularity == "channel" else LayerConfig(skip=True)
    pc = replace(pc, layers={n: other for n in names if n != unit.layer},
                 finetune=FinetuneConfig(epochs=unit.recovery_epochs, seed=cfg.seed))
    return prune(model, pc, train)[0]


def run_unit(state: dict, unit: Unit) -> dict:
    import time

    from ..pruning.layers import kernel_variable

    t0 = time.perf_counter()
    pruned = prune_unit(state["model"], unit, state["config"], state["train"])
    row = {"unit": unit.key(), "layer": unit.layer, "granularity": unit.granularity, "ratio": unit.ratio,
           "recovery_epochs": unit.recovery_epochs}
    row.update(evaluate(pruned, state["x_val"], state["y_val"], state["classifier"]))
    if unit.granularity != "channel":
        k = kernel_variable(pruned.get_layer(unit.layer)).numpy()
        row["sparsity"] = float((k == 0).mean())
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


# ---------------------------------------------------------------- cache key

def data_fingerprint(data_spec: str) -> str:
    if data_spec.startswith("probe") or data_spec == "digits":
        return data_spec
    p = Path(data_spec)
    if p.exists():
        from ..artifacts import sha256_file

        return sha256_file(p)
    return data_spec


def cache_key(model_path: str, data_spec: str, config: SweepConfig) -> str:
    from ..artifacts import sha256_file

    blob = json.dumps({"model": sha256_file(model_path), "data": data_fingerprint(data_spec),
                       **config.key_fields()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


# ---------------------------------------------------------------- the sweep

def sweep_layers(model, config: SweepConfig, only: list[str] | None = None) -> list[str]:
    from ..pruning.layers import is_depthwise, prunable_layers

    names = []
    for layer in prunable_layers(model):
        if config.granularity == "nm" and is_depthwise(layer):
            continue  # N:M needs an input-channel reduction
        names.append(layer.name)
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ModelError(f"layers {', '.join(unknown)} cannot be swept (sweepable: {', '.join(names)})")
        names = [n for n in names if n in only]
    return names


def run_sweep(model_path: str, data_spec: str, config: SweepConfig = SweepConfig(), jobs: int = 1,
              cache_dir: Path | None = None, layers: list[str] | None = None, progress: bool = True,
              executor: ExecutorSpec | None = None) -> dict:
    """Run (or finish) a sweep on ``executor`` (default: ``jobs`` local processes); returns the
    JSON-able result. The result does not depend on the executor."""
    from ..artifacts import sha256_file
    from ..modelio import load_model
    from ..pruning.layers import kernel_variable

    executor = executor or ExecutorSpec("local", jobs=jobs)
    model = load_model(model_path)  # the driver measures the baseline and lists the layers
    split = load_split(model, data_spec, config.holdout)
    names = sweep_layers(model, config, layers)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_path = cache_dir / f"{cache_key(model_path, data_spec, config)}.jsonl"
    done = read_cache(cache_path)
    units = config.units(names)
    todo = [u for u in units if u.key() not in done]
    baseline = evaluate(model, split[1], split[2], split[3])

    payload = {"model": model_blob(model_path), "split": split, "config": config}
    local_state = setup_state(dict(payload, model_obj=model)) if executor.kind == "local" else None
    with Progress("sensitivity", len(units), len(units) - len(todo), enabled=progress) as bar:
        for unit, row in run_units(executor, setup_state, run_unit, payload, todo, state=local_state):
            append_cache(cache_path, row)
            done[unit.key()] = row
            bar.advance(repr(unit))

    result = {
        "model": str(model_path), "model_sha256": sha256_file(model_path), "data": data_spec,
        "settings": asdict(config) | {"ratios": list(config.points_ratios())},
        "metric": "accuracy" if split[3] else "mse", "baseline": baseline,
        "cache": cache_path.name, "computed": len(todo), "reused": len(units) - len(todo), "layers": {},
    }
    by_layer: dict[str, list] = {n: [] for n in names}
    for u in units:
        by_layer[u.layer].append(done[u.key()])
    for n in names:
        pts = sorted(by_layer[n], key=lambda p: p["ratio"])
        result["layers"][n] = {
            "params": int(np.prod(kernel_variable(model.get_layer(n)).shape)),
            "points": [{k: p[k] for k in ("ratio", "accuracy", "loss", "sparsity") if k in p} for p in pts],
        }
    return result
