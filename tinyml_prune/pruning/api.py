"""Entry points: ``prune(model, config, data) -> (pruned_model, report)`` and
``prune_layer(model, layer_name, ratio, ...)`` (one layer, no fine-tuning; for sensitivity
analysis).

The input model is never modified: we work on a clone. The result is a plain tf_keras model
whose pruned kernel entries are exactly zero.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import DataError, ModelError
from ..kerasenv import keras
from .config import FinetuneConfig, PruneConfig, resolve_schedule
from .criteria import make_context, make_criterion
from .layers import kernel_variable, prunable_layers, resolve_skip
from .masker import Masker
from .report import PruneReport, build_rows
from .schedules import make_schedule


def clone(model):
    """A functional copy of ``model`` with the same weights (the input stays untouched)."""
    try:
        copy = keras.models.clone_model(model)
    except Exception as e:  # noqa: BLE001 - custom layers without get_config
        raise ModelError(f"cannot copy model {model.name!r} for pruning: {e}") from None
    copy.set_weights(model.get_weights())
    return copy


@dataclass(frozen=True)
class LayerPlan:
    layer: object
    masker: Masker | None   # None: left dense
    level: float            # fraction of the masker's blocks to zero
    how: str                # "unstructured", "2:4", "dense"
    note: str


def plan(model, config: PruneConfig) -> list[LayerPlan]:
    """What happens to each layer with a kernel, and why a layer stays dense."""
    config.check_layers(model)
    skip = resolve_skip(model, config.skip, include_depthwise=True)
    plans = []
    for layer in prunable_layers(model):
        lc = config.for_layer(layer.name)
        if lc.skip or layer.name in skip:
            plans.append(LayerPlan(layer, None, 0.0, "dense", "skipped (--skip / recipe)"))
            continue
        from .layers import is_depthwise
        if is_depthwise(layer) and not config.include_depthwise:
            plans.append(LayerPlan(layer, None, 0.0, "dense", "depthwise (include_depthwise = false)"))
            continue
        if config.granularity == "nm":
            n, m = lc.nm
            masker = Masker.n_of_m(n, m)
            why = masker.impossible(layer)
            if why:
                plans.append(LayerPlan(layer, None, 0.0, "dense", f"{n}:{m} impossible: {why}"))
            else:
                plans.append(LayerPlan(layer, masker, 1.0, f"{n}:{m}", ""))
        else:
            plans.append(LayerPlan(layer, Masker.unstructured(), lc.sparsity, "unstructured", ""))
    return plans


def _sample(data, n: int, seed: int = 0):
    """Up to ``n`` training inputs (and labels if there are any) for data-driven criteria."""
    if data is None:
        return None, None
    if isinstance(data, tuple):
        x, y = data
    else:
        x, y = data.x_train, data.y_train
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.permutation(len(x))[: min(n, len(x))])
    return x[idx], (None if y is None else np.asarray(y)[idx])


def _targets_fit(model, y) -> bool:
    if y is None:
        return False
    out = model.output_shape[-1]
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and int(y.max()) < out


class Selector:
    """Turns (criterion, plans, context) into masks at a given sparsity, and applies them."""

    def __init__(self, model, plans: list[LayerPlan], criterion, ctx, global_: bool):
        self.model = model
        self.plans = [p for p in plans if p.masker is not None]
        self.criterion = criterion
        self.ctx = ctx
        self.global_ = global_

    def levels(self, target: float | None) -> dict[str, float]:
        """Per-layer block fractions; ``target`` rescales unstructured levels (schedules)."""
        out = {}
        for p in self.plans:
            if p.masker.is_nm or target is None:
                out[p.layer.name] = p.level
            else:
                out[p.layer.name] = p.level * (target / self._final) if self._final else 0.0
        return out

    _final = None

    def set_final(self, final: float):
        self._final = final

    def groups(self):
        """Plans grouped by masker (one masker = one masks() call)."""
        by: dict[Masker, list[LayerPlan]] = {}
        for p in self.plans:
            by.setdefault(p.masker, []).append(p)
        return by

    def select(self, target: float | None = None, weights_only: dict | None = None) -> dict[str, np.ndarray]:
        """Masks at ``target``; solvers also write their updated kernels into the model."""
        levels = self.levels(target)
        masks = {}
        self.ctx.cache.clear()  # weights changed since the last call
        for masker, plans in self.groups().items():
            global_ = self.global_ and not masker.is_nm
            lv = levels[plans[0].layer.name] if global_ else {p.layer.name: levels[p.layer.name] for p in plans}
            if self.criterion.updates_weights and weights_only is None:
                solved = self.criterion.solve(self.ctx, [p.layer for p in plans], masker, lv, global_)
                for name, (kernel, mask) in solved.items():
                    kernel_variable(self.model.get_layer(name)).assign(kernel * mask)
                    masks[name] = mask
                continue
            if weights_only is not None:  # re-selection from shadow weights by magnitude
                scores = {p.layer.name: (p.layer, np.abs(weights_only[p.layer.name])) for p in plans}
            else:
                scores = {p.layer.name: (p.layer, self.criterion.score(self.ctx, p.layer)) for p in plans}
            masks.update(masker.masks(scores, lv, global_))
        return masks

    def apply(self, masks: dict[str, np.ndarray]) -> None:
        for name, m in masks.items():
            var = kernel_variable(self.model.get_layer(name))
            var.assign(var.numpy() * m)


WEIGHT_ONLY = ("l1", "l2")


def prune(model, config: PruneConfig = PruneConfig(), data=None, verbose: int = 0):
    """Prune a copy of ``model`` as ``config`` says; returns ``(pruned_model, PruneReport)``.

    ``data`` is a ``tinyml_prune.data.Dataset`` or ``(x, y)`` (``y`` may be None): data-driven
    criteria score on ``config.data_samples`` training inputs, fine-tuning uses all of them.
    Without labels, the dense model's own predictions are the targets.
    """
    config = resolve_schedule(config)
    if config.granularity == "channel":
        return _prune_channels(model, config, data, verbose)
    pruned = clone(model)
    plans = plan(pruned, config)
    criterion = make_criterion(config.criterion, **dict(config.criterion_options))
    if "element" not in criterion.granularities:
        raise ModelError(f"criterion {config.criterion!r} scores whole channels only; "
                         f"use it with --granularity channel")
    x, y = _sample(data, config.data_samples, config.finetune.seed)
    if criterion.needs_data and x is None:
        raise DataError(f"criterion {config.criterion!r} is data-driven: give it data (--data)")
    ctx = make_context(model, x, y if _targets_fit(model, y) else None, "element")
    ctx.model = pruned
    selector = Selector(pruned, plans, criterion, ctx, config.scope == "global")
    ft = config.finetune
    if config.schedule.kind != "oneshot" and ft.epochs <= 0:
        raise ModelError(f"schedule {config.schedule.kind!r} prunes during fine-tuning: "
                         f"give it fine-tuning epochs (--finetune-epochs, finetune.epochs)")
    if ft.epochs > 0 and data is None:
        raise DataError("fine-tuning needs training data (--data)")
    if ft.epochs <= 0:
        selector.apply(selector.select())
    else:
        _finetune(pruned, model, plans, selector, config, data, verbose)
    how = {p.layer.name: (p.how, p.note) for p in plans}
    errors = ctx.cache.get("layer_errors", {})  # solvers that reconstruct report their error
    for name, e in errors.items():
        h, note = how[name]
        how[name] = (h, "; ".join(filter(None, [note, f"rel. error {e['rel_error']:.3f} "
                                                      f"(masking alone {e['rel_error_mask_only']:.3f})"])))
    report = PruneReport(build_rows(model, pruned, how), config.criterion, criterion.estimator,
                         config.to_dict())
    if errors:
        report.metrics["reconstruction"] = errors
    return pruned, report


def _training_set(model, data):
    if isinstance(data, tuple):
        x, y = data
    else:
        x, y = data.x_train, data.y_train
    x = np.asarray(x, np.float32)
    if not _targets_fit(model, None if y is None else np.asarray(y)):
        y = model.predict(x, batch_size=256, verbose=0)
        if model.layers[-1].get_config().get("activation") == "softmax":
            y = y.argmax(axis=-1)
    return x, np.asarray(y)


def _finetune(pruned, dense, plans, selector, config: PruneConfig, data, verbose):
    from .finetune import MaskedTraining

    ft: FinetuneConfig = config.finetune
    x, y = _training_set(dense, data)
    steps_per_epoch = int(np.ceil(len(x) / ft.batch_size))
    total = steps_per_epoch * ft.epochs
    sc = config.schedule
    schedule = make_schedule(sc.kind, config.sparsity, total, sc.rounds, sc.power, sc.frequency, sc.end_fraction)
    selector.set_final(schedule.final_sparsity)
    layers = [p.layer for p in selector.plans]

    def reselect(shadow, sparsity):
        return selector.select(sparsity, weights_only=shadow)

    # masks settle where gradual pruning ends: the last (1 - end_fraction) of the steps train
    # the final mask, so a late re-selection cannot leave regrown weights untrained
    settle = max(1, int(round(sc.end_fraction * total)))
    # Magnitude re-selection between schedule steps suits weight-only criteria (and N:M, whose
    # mask tfmot would freeze too early). A solver that reconstructs the weights (obs, chita)
    # chose its mask together with the kept values: re-picking by magnitude from the shadow
    # throws that reconstruction away, so its masks change only when the schedule says so.
    magnitude = (config.criterion in WEIGHT_ONLY or config.granularity == "nm") and not selector.criterion.updates_weights
    frozen = _bn_frozen(ft, config.granularity, selector.criterion)
    cb = MaskedTraining(layers, schedule, selector.select, ft.reselect_every,
                        reselect if magnitude else None, settle_step=settle,
                        after_prune=_bn_reestimation(pruned, x, config.data_samples, ft.seed, layers) if frozen else None)
    _fit(pruned, dense, x, y, ft, config.granularity, verbose, frozen, callbacks=[cb])


def _bn_frozen(ft: FinetuneConfig, granularity: str, criterion) -> bool:
    """auto: frozen when distilling a model whose weights a solver reconstructed (obs, chita),
    whose one-shot function fine-tuning should keep; a sliced model (l1 channels on the digits
    ResNet: 50 % channels int8 0.916 frozen vs 0.947 trained) needs its BN to adapt."""
    from . import distill

    if ft.batchnorm != "auto":
        return ft.batchnorm == "frozen"
    return distill.enabled(ft.distill, granularity) and criterion.updates_weights


def _bn_reestimation(model, x, n: int, seed: int, pruned_layers=None):
    """Sets the moving statistics of ``model``'s BN layers after the first of ``pruned_layers``
    (all of them if None) to those of ``n`` training inputs, through the model as it is now.
    Frozen BN fine-tunes with these fixed statistics, so they must be the pruned model's."""
    from .obs.calib import batchnorms, reestimate_bn

    xs, _ = _sample((x, None), n, seed)
    index = {id(l): i for i, l in enumerate(model.layers)}
    first = min((index[id(l)] for l in pruned_layers), default=len(index)) if pruned_layers is not None else -1
    bns = [b for b in batchnorms(model) if index[id(b)] > first]
    return lambda: reestimate_bn(model, bns, xs)


def _fit(model, dense, x, y, ft: FinetuneConfig, granularity: str, verbose, frozen: bool, callbacks=()):
    """Fine-tune ``model`` on ``x`` (labels ``y``), distilling ``dense`` if configured."""
    from .finetune import batchnorm_frozen

    keras.utils.set_random_seed(ft.seed)
    loss, y = _loss_and_targets(dense, x, y, ft, granularity)
    with batchnorm_frozen(model, frozen):
        model.compile(optimizer=keras.optimizers.Adam(ft.learning_rate), loss=loss)
        model.fit(x, y, batch_size=ft.batch_size, epochs=ft.epochs, verbose=verbose, shuffle=True,
                  callbacks=list(callbacks))


def _loss_and_targets(dense, x, y, ft: FinetuneConfig, granularity: str):
    """The fine-tuning loss and targets: plain, or distilled from ``dense`` (``ft.distill``)."""
    from . import distill
    from .criteria.base import is_classifier

    if distill.enabled(ft.distill, granularity):
        return distill.targets(dense, x, y, is_classifier(dense), ft.temperature, ft.distill_alpha)
    return ("sparse_categorical_crossentropy" if is_classifier(dense) and y.ndim == 1 else "mse"), y


def prune_layer(model, layer_name: str, ratio: float, criterion: str = "l1",
                granularity: str = "unstructured", data=None, nm: tuple[int, int] = (2, 4),
                criterion_options: dict | None = None):
    """A copy of ``model`` with only ``layer_name`` pruned, without fine-tuning.

    ``ratio`` is the fraction of that layer's kernel set to zero (unstructured) or of its
    output channels removed (channel); for ``granularity="nm"`` the N:M pattern fixes the
    ratio and ``ratio`` is ignored. ``data`` as for ``prune`` (needed by data-driven criteria).
    """
    names = [l.name for l in prunable_layers(model)]
    if layer_name not in names:
        raise ModelError(f"layer {layer_name!r} has no prunable kernel (prunable: {', '.join(names)})")
    from .config import LayerConfig, config_from_dict

    cfg = config_from_dict({
        "granularity": granularity, "sparsity": ratio, "nm": nm, "criterion": criterion,
        "criterion_options": criterion_options or {}, "include_depthwise": True,
    }, "prune_layer")
    # Channel groups are shared by producers and consumers, so "skip" would freeze the layer's
    # consumers too: other layers get a zero target instead.
    other = LayerConfig(sparsity=0.0) if granularity == "channel" else LayerConfig(skip=True)
    pruned, _ = prune(model, replace(cfg, layers={n: other for n in names if n != layer_name}), data)
    return pruned


def _prune_channels(model, config: PruneConfig, data, verbose):
    """Channel pruning through ``pruning.channel`` (physical slimming), then fine-tuning.

    One-shot removes ``sparsity`` of every channel group at once; iterative removes it in
    ``rounds`` steps (each round's fraction taken of the channels still there), fine-tuning
    between rounds. Gradual schedules need masks that can grow back; channels are removed
    physically, so they are refused here.
    """
    from .channel import ChannelConfig, prune_channels

    sc, ft = config.schedule, config.finetune
    if sc.kind == "gradual":
        raise ModelError("channel pruning removes channels physically: use --schedule oneshot or iterative")
    x, y = _sample(data, config.data_samples, ft.seed)
    criterion = make_criterion(config.criterion, **dict(config.criterion_options))
    if criterion.needs_data and x is None:
        raise DataError(f"criterion {config.criterion!r} is data-driven: give it data (--data)")
    rounds = sc.rounds if sc.kind == "iterative" else 1
    if sc.kind == "iterative" and ft.epochs <= 0:
        raise ModelError("schedule 'iterative' fine-tunes between rounds: give it --finetune-epochs")
    if ft.epochs > 0 and data is None:
        raise DataError("fine-tuning needs training data (--data)")
    if ft.epochs > 0:
        xt, yt = _training_set(model, data)
    kept_before, current, creport = 1.0, model, None
    for r in range(rounds):
        kept_after = 1.0 - config.sparsity * (r + 1) / rounds
        step = 1.0 - kept_after / kept_before
        cc = replace(ChannelConfig.from_prune_config(config), sparsity=step)
        if criterion.updates_weights:  # reconstructing criteria slim and re-fit (obs)
            current, creport = criterion.prune_channels(current, cc, x)
        else:
            current, creport = prune_channels(current, cc, data=x)
        kept_before = kept_after
        if data is not None and ft.epochs > 0:
            if _bn_frozen(ft, "channel", criterion):  # slimmed: statistics of the channels that are left
                _bn_reestimation(current, xt, config.data_samples, ft.seed)()
            _fit(current, model, xt, yt, ft, "channel", verbose, frozen=_bn_frozen(ft, "channel", criterion))
    how = creport.notes()
    report = PruneReport(build_rows(model, current, how), config.criterion, criterion.estimator,
                         config.to_dict())
    report.metrics["channel_report"] = creport.to_dict()
    return current, report


