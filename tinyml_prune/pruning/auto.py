"""Automatic per-layer pruning ratios under a budget.

``--auto accuracy-drop=0.01 | flash=48KiB | macs=0.5`` picks one ratio per layer from per-layer
*damage curves*: the measured sensitivity sweep (``tinyml sensitivity``: accuracy lost when only
that layer is pruned, no fine-tuning) or, with ``--auto-from hessian``, a HAP-style estimate
without a sweep (the loss increase ½·Σ tr(H_c)/n_c·w² over the weights a ratio removes, from
Hutchinson Hessian traces).

Allocation is **greedy by marginal efficiency**: start dense; repeatedly move the one layer whose
next step (to any higher ratio on its curve, so non-convex curves are jumped over) saves the most
resource per unit of added predicted damage; damages are assumed additive across layers.
* ``accuracy-drop=d``: maximise removed weights while the summed predicted drop stays <= d;
* ``flash=B``: add steps until the weight bytes of the chosen codegen format fit B
  (bytes per layer come from the code generator's own encoders, so the number means bytes on
  the board);
* ``macs=f``: until the kept MACs (zeros skipped) are <= f of the dense model's.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

UNITS = {"": 1, "B": 1, "KB": 1000, "KIB": 1024, "MB": 1000 ** 2, "MIB": 1024 ** 2}
DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class Budget:
    kind: str  # accuracy-drop | flash | macs
    value: float

    def describe(self) -> str:
        return f"{self.kind}={self.value:g}" + (" bytes" if self.kind == "flash" else "")


def parse_budget(text: str) -> Budget:
    m = re.fullmatch(r"\s*(accuracy-drop|flash|macs)\s*=\s*([0-9.]+)\s*([A-Za-z]*)\s*", text or "")
    if not m:
        raise ModelError(f"--auto {text!r}: use accuracy-drop=0.01, flash=48KiB or macs=0.5")
    kind, num, unit = m.group(1), float(m.group(2)), m.group(3).upper()
    if kind == "flash":
        if unit not in UNITS:
            raise ModelError(f"--auto {text!r}: unknown unit {m.group(3)!r} (B, KB, KiB, MB, MiB)")
        return Budget(kind, num * UNITS[unit])
    if unit:
        raise ModelError(f"--auto {text!r}: {kind} takes a plain number")
    if kind == "macs" and not 0 < num <= 1:
        raise ModelError(f"--auto {text!r}: macs is the fraction of MACs kept, in (0, 1]")
    if kind == "accuracy-drop" and not 0 <= num < 1:
        raise ModelError(f"--auto {text!r}: accuracy-drop is a fraction, e.g. 0.01 for one point")
    return Budget(kind, num)


# ---------------------------------------------------------------- per-layer costs

def layer_macs(layer) -> int:
    """Dense MACs of one Conv2D/DepthwiseConv2D/Dense layer for one input."""
    kind = type(layer).__name__
    out = layer.output_shape
    k = layer.get_weights()[0]
    if kind == "Dense":
        return int(np.prod(out[1:-1] or [1]) * k.shape[0] * k.shape[1])
    spatial = int(np.prod(out[1:-1]))
    if kind == "DepthwiseConv2D":
        return spatial * int(np.prod(k.shape))  # H*W*C*M per output pixel
    return spatial * int(np.prod(k.shape))


def _int8_kernel(layer) -> np.ndarray:
    """The layer's kernel as per-output-channel symmetric int8 in TFLite layout, as [rows, cols]."""
    from ..quantize.tflite_weights import keras_to_tflite_layout

    kind = type(layer).__name__
    k = keras_to_tflite_layout(kind, layer.get_weights()[0])
    if kind == "DepthwiseConv2D":
        k = np.moveaxis(k, -1, 0)
    m = k.reshape(k.shape[0], -1)
    step = np.maximum(np.abs(m).max(axis=1, keepdims=True), 1e-8) / 127.0
    q = np.clip(np.round(m / step), -127, 127)
    q = np.where((m != 0) & (q == 0), np.sign(m), q)  # kept weights stay nonzero (our QAT)
    return q.astype(np.int8)


def magnitude_zeroed(q: np.ndarray, ratio: float) -> np.ndarray:
    """``q`` with its smallest-|w| fraction ``ratio`` set to zero (what L1 unstructured does)."""
    n = int(round(ratio * q.size))
    if n == 0:
        return q
    flat = q.reshape(-1).copy()
    flat[np.argsort(np.abs(flat.astype(np.int32)), kind="stable")[:n]] = 0
    return flat.reshape(q.shape)


def format_bytes(q: np.ndarray, fmt: str) -> int:
    from ..codegen import formats

    return formats.get(fmt).encode(q).nbytes


@dataclass
class LayerCost:
    name: str
    kind: str
    params: int
    macs: int
    bytes: dict = field(default_factory=dict)  # ratio -> weight bytes in the chosen format


def layer_costs(model, names, ratios, fmt: str | None) -> dict[str, LayerCost]:
    from ..codegen.formats.select import SPARSE_OPS

    op_of = {"Conv2D": "CONV_2D", "Dense": "FULLY_CONNECTED", "DepthwiseConv2D": "DEPTHWISE_CONV_2D"}
    costs = {}
    for name in names:
        layer = model.get_layer(name)
        kind = type(layer).__name__
        c = LayerCost(name, kind, int(layer.get_weights()[0].size), layer_macs(layer))
        if fmt:
            q = _int8_kernel(layer)
            layer_fmt = fmt if op_of[kind] in SPARSE_OPS else "dense"  # codegen keeps depthwise dense
            c.bytes = {r: format_bytes(magnitude_zeroed(q, r), layer_fmt) for r in (0.0, *ratios)}
        costs[name] = c
    return costs


# ---------------------------------------------------------------- damage curves

def curves_from_sensitivity(sens: dict) -> dict[str, list[tuple[float, float]]]:
    """Predicted damage per ratio: accuracy lost (classifier) or loss added, never negative."""
    metric = "accuracy" if sens["metric"] == "accuracy" else "loss"
    base = sens["baseline"][metric]
    curves = {}
    for name, layer in sens["layers"].items():
        pts = [(0.0, 0.0)]
        for p in layer["points"]:
            d = base - p[metric] if metric == "accuracy" else p[metric] - base
            pts.append((float(p["ratio"]), max(0.0, float(d))))
        curves[name] = sorted(pts)
    return curves


def curves_from_hessian(model, names, x, y=None, ratios=DEFAULT_RATIOS, max_samples: int = 32) -> dict:
    """HAP-style curves without a sweep: ½·Σ score over the pruned weights, score = w²·tr(H_c)/n_c.

    Scores come from the pruner's ``hessian`` criterion (Hutchinson traces per output channel);
    pruning the lowest-scored fraction ``r`` of a layer is predicted to add that much loss.
    """
    from ..pruning.criteria import make_context, make_criterion

    crit = make_criterion("hessian", max_samples=max_samples)
    ctx = make_context(model, x, y, granularity="element")
    curves = {}
    for name in names:
        s = np.sort(np.abs(np.asarray(crit.score(ctx, model.get_layer(name)), np.float64)).reshape(-1))
        cum = np.concatenate([[0.0], np.cumsum(s)])
        curves[name] = [(0.0, 0.0)] + [(r, 0.5 * float(cum[int(round(r * s.size))])) for r in ratios]
    return curves


# ---------------------------------------------------------------- greedy allocation

def _resource(costs: dict[str, LayerCost], kind: str, name: str, r: float) -> float:
    c = costs[name]
    if kind == "flash":
        return float(c.bytes[r])
    if kind == "macs":
        return c.macs * (1.0 - r)
    return c.params * (1.0 - r)  # accuracy-drop: weights kept


def _total(costs, kind, ratios: dict) -> float:
    return sum(_resource(costs, kind, n, r) for n, r in ratios.items())


def greedy(curves: dict, costs: dict, kind: str, stop) -> dict[str, float]:
    """Take the most efficient step until ``stop(ratios, damage)`` says enough, or no step is left.

    ``stop`` gets the allocation after a step; returning ``"undo"`` rolls that step back and ends.
    """
    ratios = {n: 0.0 for n in curves}
    dmg = {n: 0.0 for n in curves}
    while True:
        best = None
        for n, pts in curves.items():
            here = _resource(costs, kind, n, ratios[n])
            for r, d in pts:
                if r <= ratios[n]:
                    continue
                saved = here - _resource(costs, kind, n, r)
                if saved <= 0:
                    continue
                eff = saved / (max(d - dmg[n], 0.0) + 1e-9)
                if best is None or eff > best[0]:
                    best = (eff, n, r, d)
        if best is None:
            return ratios
        _, n, r, d = best
        prev = ratios[n], dmg[n]
        ratios[n], dmg[n] = r, d
        verdict = stop(ratios, sum(dmg.values()))
        if verdict == "undo":
            ratios[n], dmg[n] = prev
            return ratios
        if verdict:
            return ratios


def allocate(curves: dict, costs: dict, budget: Budget, fixed: float = 0.0, total_macs: float = 0.0,
             damage_cap: float | None = None) -> tuple[dict[str, float], float]:
    """Per-layer ratios and the predicted damage for ``budget``.

    ``fixed``: bytes of everything the ratios do not change (flash); ``total_macs``: MACs of the
    whole dense model (macs); ``damage_cap``: the damage an accuracy-drop budget allows (defaults
    to the budget itself — sensitivity curves are in accuracy units).
    """
    kind = budget.kind
    if kind == "accuracy-drop":
        cap = budget.value if damage_cap is None else damage_cap
        ratios = greedy(curves, costs, "accuracy-drop", lambda r, d: "undo" if d > cap + 1e-12 else False)
    elif kind == "flash":
        ratios = greedy(curves, costs, "flash", lambda r, d: fixed + _total(costs, "flash", r) <= budget.value)
        if fixed + _total(costs, "flash", ratios) > budget.value:
            best = fixed + _total(costs, "flash", ratios)
            raise ModelError(f"flash budget {budget.value:.0f} B cannot be met: at the highest swept ratios "
                             f"the weights still take {best:.0f} B")
    else:
        ratios = greedy(curves, costs, "macs", lambda r, d: fixed + _total(costs, "macs", r)
                        <= budget.value * total_macs)
        if fixed + _total(costs, "macs", ratios) > budget.value * total_macs:
            raise ModelError(f"macs budget {budget.value:g} cannot be met with the swept ratios")
    damage = sum(dict(curves[n]).get(r, 0.0) for n, r in ratios.items())
    return ratios, damage


def predicted(model, costs: dict, ratios: dict, fixed_bytes: float = 0.0) -> dict:
    """Kept weights and MACs over every prunable layer (ratio 0 where none was chosen)."""
    from .layers import kernel_variable, prunable_layers

    layers = prunable_layers(model)
    out = {"params_kept": int(sum(round(int(np.prod(kernel_variable(l).shape)) * (1 - ratios.get(l.name, 0.0)))
                                  for l in layers)),
           "macs_kept": int(sum(layer_macs(l) * (1 - ratios.get(l.name, 0.0)) for l in layers))}
    if all(c.bytes for c in costs.values()):
        out["weight_bytes"] = int(fixed_bytes + sum(c.bytes[ratios.get(n, 0.0)] for n, c in costs.items()))
    return out


def load_sensitivity(path) -> dict:
    try:
        with open(path) as f:
            sens = json.load(f)
        sens["layers"], sens["baseline"], sens["metric"]
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"{path}: not a sensitivity result from `tinyml sensitivity` ({e})") from None
    return sens


# ---------------------------------------------------------------- driver for `tinyml prune --auto`

@dataclass(frozen=True)
class AutoRequest:
    budget: Budget
    source: str = "sensitivity"  # sensitivity | hessian
    sensitivity_path: str | None = None
    format: str = "csr"  # codegen weight format the flash budget is counted in
    skip: tuple = ()


def _accuracy(model, x, y) -> float:
    return float((model.predict(x, batch_size=256, verbose=0).argmax(-1) == y).mean())


def _one_shot(model, ratios: dict, criterion: str, data):
    from .api import prune
    from .config import LayerConfig, PruneConfig

    cfg = apply_to_config(PruneConfig(criterion=criterion), {"ratios": ratios, "criterion": criterion}, model)
    return prune(model, cfg, data)[0]


def dense_fixed_bytes(model, ds, costs: dict, fmt: str) -> float:
    """Bytes codegen spends on everything the ratios leave alone (biases, params, other layers)."""
    from ..codegen.generate import CodegenOptions, build_program
    from ..codegen.tflite_reader import read_tflite
    from ..quantize.qat import QATConfig, quantize_qat

    # our conversion, not PTQ: PTQ rounds small weights to extra zeros the ratios know nothing of
    tfl = quantize_qat(model, ds, QATConfig(epochs=0, calibration_samples=100))
    program = build_program(read_tflite(tfl, "dense"), CodegenOptions(format=fmt))
    return program.weight_bytes + program.param_bytes - sum(c.bytes[0.0] for c in costs.values())


def measured_weight_bytes(pruned, ds, fmt: str) -> int:
    """Codegen's bytes for the pruned model after our QAT conversion (ranges only: exact zeros)."""
    from ..codegen.generate import CodegenOptions, build_program
    from ..codegen.tflite_reader import read_tflite
    from ..quantize.qat import QATConfig, quantize_qat

    tfl = quantize_qat(pruned, ds, QATConfig(epochs=0, calibration_samples=100))
    program = build_program(read_tflite(tfl, "pruned"), CodegenOptions(format=fmt))
    return int(program.weight_bytes + program.param_bytes)


def choose_ratios(model, ds, req: AutoRequest, criterion: str = "l1") -> dict:
    """The allocation and its prediction (JSON-able); ``ratios`` feed PruneConfig.layers."""
    from .layers import prunable_layers

    if req.source == "sensitivity":
        if not req.sensitivity_path:
            raise ModelError("--auto needs a sensitivity result (--sensitivity sens.json from `tinyml "
                             "sensitivity`) or --auto-from hessian")
        sens = load_sensitivity(req.sensitivity_path)
        if sens["settings"].get("granularity") not in (None, "unstructured"):
            raise ModelError(f"{req.sensitivity_path}: --auto allocates unstructured ratios; the sweep used "
                             f"--granularity {sens['settings']['granularity']}")
        curves = curves_from_sensitivity(sens)
        known = {l.name for l in prunable_layers(model)}
        missing = [n for n in curves if n not in known]
        if missing:
            raise ModelError(f"{req.sensitivity_path} was made for another model: no layer {missing[0]!r} here")
        criterion = sens["settings"].get("criterion", criterion)
    elif req.source == "hessian":
        names = [l.name for l in prunable_layers(model)]
        x = ds.calibration(256)
        curves = curves_from_hessian(model, names, x, None)
    else:
        raise ModelError(f"--auto-from {req.source!r}: use sensitivity or hessian")
    for s in req.skip:
        curves.pop(s, None)
    ratio_grid = sorted({r for pts in curves.values() for r, _ in pts if r > 0})
    costs = layer_costs(model, list(curves), ratio_grid, req.format if req.budget.kind == "flash" else None)
    fixed = dense_fixed_bytes(model, ds, costs, req.format) if req.budget.kind == "flash" else 0.0
    total_macs = 0.0
    if req.budget.kind == "macs":
        from .layers import prunable_layers as _pl

        total_macs = float(sum(layer_macs(l) for l in _pl(model)))
        fixed = total_macs - sum(c.macs for c in costs.values())
    base_acc = _accuracy(model, ds.x_test, ds.y_test)
    info = {"budget": req.budget.describe(), "source": req.source, "criterion": criterion,
            "allocation": "greedy by marginal efficiency (resource saved per unit of predicted damage)",
            "dense_accuracy": base_acc}
    if req.budget.kind == "accuracy-drop" and req.source == "hessian":
        # Hessian damages are loss units: find the largest loss cap whose one-shot drop fits.
        lo, hi = 0.0, max(sum(max(d for _, d in pts) for pts in curves.values()), 1e-9)
        best = {n: 0.0 for n in curves}
        for _ in range(10):
            mid = (lo + hi) / 2
            ratios, _ = allocate(curves, costs, req.budget, damage_cap=mid)
            drop = base_acc - _accuracy(_one_shot(model, ratios, criterion, ds), ds.x_test, ds.y_test)
            if drop <= req.budget.value:
                lo, best = mid, ratios
            else:
                hi = mid
        ratios = best
        damage = base_acc - _accuracy(_one_shot(model, ratios, criterion, ds), ds.x_test, ds.y_test)
        info["loss_cap"] = lo
    else:
        ratios, damage = allocate(curves, costs, req.budget, fixed=fixed, total_macs=total_macs)
    pred = predicted(model, costs, ratios, fixed if req.budget.kind == "flash" else 0.0)
    if req.budget.kind == "macs":
        pred["macs_fraction"] = pred["macs_kept"] / total_macs
    if req.source == "sensitivity" or req.budget.kind == "accuracy-drop":
        # curves are measured without fine-tuning: the prediction is pessimistic after fine-tuning
        pred["accuracy"] = base_acc - damage
    info.update(ratios={n: r for n, r in ratios.items()}, predicted=pred)
    if req.budget.kind == "flash":
        info["format"] = req.format
    return info


def measure(info: dict, dense, pruned, ds, fmt: str) -> dict:
    """Measured counterparts of ``info['predicted']`` for the pruned (and fine-tuned) model."""
    from .layers import kernel_variable, prunable_layers

    m = {"accuracy": _accuracy(pruned, ds.x_test, ds.y_test)}
    kept = 0
    macs = 0
    for layer in prunable_layers(pruned):
        k = kernel_variable(layer).numpy()
        kept += int((k != 0).sum())
        macs += int(layer_macs(layer) * (k != 0).mean())
    m["params_kept"], m["macs_kept"] = kept, macs
    if "weight_bytes" in info["predicted"]:
        m["weight_bytes"] = measured_weight_bytes(pruned, ds, fmt)
    return m


def format_auto(info: dict) -> str:
    lines = [f"auto {info['budget']} from {info['source']} ({info['allocation']}):"]
    lines += [f"  {n:<20} {r:.2f}" for n, r in info["ratios"].items()]
    meas = info.get("measured", {})
    for k, v in info["predicted"].items():
        got = meas.get(k)
        lines.append(f"  {k:<22} predicted {v:,.4g}" + (f"   measured {got:,.4g}" if got is not None else ""))
    for k in ("accuracy", "macs_kept", "params_kept", "weight_bytes"):
        if k in meas and k not in info["predicted"]:
            lines.append(f"  {k:<22} measured {meas[k]:,.4g}")
    return "\n".join(lines)


def apply_to_config(config, info: dict, model):
    """``config`` pruning each layer at its chosen ratio (unstructured); every other layer stays dense.

    The global sparsity is set to the largest chosen ratio, not 0: the pruner's fine-tuning
    schedule scales per-layer levels by (target / global final), so a global 0 would undo them.
    """
    from dataclasses import replace

    from .config import LayerConfig
    from .layers import prunable_layers

    layers = dict(config.layers)
    for layer in prunable_layers(model):
        r = info["ratios"].get(layer.name, 0.0)
        layers[layer.name] = LayerConfig(sparsity=r) if r > 0 else LayerConfig(skip=True)
    top = max(info["ratios"].values(), default=0.0) or 0.5
    return replace(config, granularity="unstructured", criterion=info["criterion"], include_depthwise=True,
                   scope="layer", sparsity=top, layers=layers)
