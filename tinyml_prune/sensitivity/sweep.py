"""Sensitivity sweep: prune one layer at a time at each ratio (no fine-tuning) and measure.

Every (layer, ratio) point is independent, so points run in worker processes (``spawn``: TF is
not fork-safe); each worker loads the model and data once. Finished points are appended to a
JSON-lines cache file named by a hash of the model file, the data and the settings — re-running
an interrupted sweep recomputes only the missing points (ratios are per point, not part of the
key, so adding ratios reuses the old ones).
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, ModelError

DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CACHE_VERSION = 1


@dataclass(frozen=True)
class SweepConfig:
    granularity: str = "unstructured"  # unstructured | nm | channel
    criterion: str = "l1"
    ratios: tuple = DEFAULT_RATIOS
    nm: tuple = (2, 4)
    holdout: float = 0.25  # probe data only: held-out probe inputs relative to the criterion's
    criterion_options: dict = field(default_factory=dict)

    def key_fields(self) -> dict:
        """Settings that change a point's result (ratios are per point)."""
        return {"granularity": self.granularity, "criterion": self.criterion, "nm": list(self.nm),
                "holdout": self.holdout, "criterion_options": dict(sorted(self.criterion_options.items())),
                "version": CACHE_VERSION}

    def points_ratios(self) -> tuple:
        if self.granularity == "nm":  # the pattern fixes the ratio: one point per layer
            return (round(1 - self.nm[0] / self.nm[1], 6),)
        return tuple(self.ratios)


@dataclass(frozen=True)
class Task:
    """What a worker needs to rebuild the inputs itself."""

    model_path: str
    data_spec: str
    config: SweepConfig


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


# ---------------------------------------------------------------- workers

_W: dict = {}


def _init_worker(task: Task) -> None:
    from ..modelio import load_model

    model = load_model(task.model_path)
    train, x_val, y_val, classifier = load_split(model, task.data_spec, task.config.holdout)
    _W.update(task=task, model=model, train=train, x_val=x_val, y_val=y_val, classifier=classifier)


def _run_point(layer: str, ratio: float) -> dict:
    import time

    from ..pruning.api import prune_layer
    from ..pruning.layers import kernel_variable

    cfg: SweepConfig = _W["task"].config
    t0 = time.perf_counter()
    pruned = prune_layer(_W["model"], layer, ratio, criterion=cfg.criterion, granularity=cfg.granularity,
                         data=_W["train"], nm=tuple(cfg.nm), criterion_options=dict(cfg.criterion_options))
    row = {"layer": layer, "ratio": ratio}
    row.update(evaluate(pruned, _W["x_val"], _W["y_val"], _W["classifier"]))
    if cfg.granularity != "channel":
        k = kernel_variable(pruned.get_layer(layer)).numpy()
        row["sparsity"] = float((k == 0).mean())
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def _worker_point(args):
    return _run_point(*args)


# ---------------------------------------------------------------- cache

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


def default_cache_dir() -> Path:
    return Path(os.environ.get("TINYML_CACHE_DIR", Path.home() / ".cache" / "tinyml-prune")) / "sensitivity"


def read_cache(path: Path) -> dict[tuple[str, float], dict]:
    done = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:  # a line cut short by an interrupt is simply recomputed
            row = json.loads(line)
            done[(row["layer"], round(float(row["ratio"]), 6))] = row
        except (ValueError, KeyError):
            continue
    return done


def append_cache(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


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
              cache_dir: Path | None = None, layers: list[str] | None = None, progress: bool = True) -> dict:
    """Run (or finish) a sweep; returns the JSON-able result."""
    from ..artifacts import sha256_file

    task = Task(str(model_path), data_spec, config)
    _init_worker(task)  # the main process measures the baseline and lists the layers
    model = _W["model"]
    names = sweep_layers(model, config, layers)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(model_path, data_spec, config)
    cache_path = cache_dir / f"{key}.jsonl"
    done = read_cache(cache_path)
    todo = [(n, r) for n in names for r in config.points_ratios() if (n, round(r, 6)) not in done]
    baseline = evaluate(model, _W["x_val"], _W["y_val"], _W["classifier"])

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = len(names) * len(config.points_ratios())
    with Progress(TextColumn("sensitivity"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  TextColumn("{task.description}"), disable=not progress, transient=False) as bar:
        tid = bar.add_task("", total=total, completed=total - len(todo))
        if jobs <= 1 or len(todo) <= 1:
            for layer, ratio in todo:
                row = _run_point(layer, ratio)
                append_cache(cache_path, row)
                done[(layer, round(ratio, 6))] = row
                bar.update(tid, advance=1, description=f"{layer}@{ratio:g}")
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker, initargs=(task,)) as pool:
                futures = {pool.submit(_worker_point, pt): pt for pt in todo}
                for fut in as_completed(futures):
                    row = fut.result()
                    append_cache(cache_path, row)
                    done[(row["layer"], round(row["ratio"], 6))] = row
                    bar.update(tid, advance=1, description=f"{row['layer']}@{row['ratio']:g}")

    from ..pruning.layers import kernel_variable

    result = {
        "model": str(model_path), "model_sha256": sha256_file(model_path), "data": data_spec,
        "settings": asdict(config) | {"ratios": list(config.points_ratios())},
        "metric": "accuracy" if _W["classifier"] else "mse", "baseline": baseline,
        "cache": str(cache_path), "computed": len(todo), "reused": total - len(todo), "layers": {},
    }
    for n in names:
        pts = sorted((done[(n, round(r, 6))] for r in config.points_ratios()), key=lambda p: p["ratio"])
        result["layers"][n] = {
            "params": int(np.prod(kernel_variable(model.get_layer(n)).shape)),
            "points": [{k: p[k] for k in ("ratio", "accuracy", "loss", "sparsity") if k in p} for p in pts],
        }
    return result
