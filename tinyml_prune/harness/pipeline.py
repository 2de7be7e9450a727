"""The model half of `tinyml deploy`: prune (+ fine-tune) with our pruner, then int8.

Thin glue over the stage APIs so that deploy and the single-stage commands do the same
thing: `tinyml_prune.pruning.prune` (the same as `tinyml prune`) and
`tinyml_prune.quantize.quantize_report.quantize_with_report` (the same as `tinyml quantize`:
QAT that keeps the zeros and N:M groups, or PTQ).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..pruning.config import FinetuneConfig, PruneConfig, ScheduleConfig, load_recipe, merge
from ..quantize.qat import QATConfig


@dataclass(frozen=True)
class ModelStages:
    """What deploy does to the float model: ``prune`` None = keep it dense; ``ptq`` = no QAT."""

    prune: PruneConfig | None = field(default_factory=lambda: default_prune())
    qat: QATConfig = QATConfig()
    ptq: bool = False


def default_prune(granularity: str = "nm", **overrides) -> PruneConfig:
    """Deploy's default: 2:4 by magnitude, one-shot then 4 epochs of masked fine-tuning."""
    base = PruneConfig(granularity=granularity, schedule=ScheduleConfig(kind="oneshot"),
                       finetune=FinetuneConfig(epochs=4))
    return merge(base, **overrides)


def prune_config(granularity: str | None, recipe: str | None = None, **overrides) -> PruneConfig | None:
    """The PruneConfig for deploy's options (None for --granularity none).

    Explicit options win over the recipe, the recipe over deploy's defaults."""
    if granularity == "none":
        return None
    if recipe:
        return load_recipe(recipe, granularity=granularity, **overrides)
    return default_prune(granularity or "nm", **overrides)


def prune(model, ds, config: PruneConfig | None):
    """(pruned model, PruneReport or None)."""
    if config is None:
        return model, None
    from ..pruning import prune as run_prune

    return run_prune(model, config, ds)


def quantize(model, ds, stages: ModelStages) -> tuple[bytes, dict]:
    """int8 .tflite bytes and the quantization report (sparsity kept per layer, accuracies)."""
    from ..quantize.quantize_report import quantize_with_report

    return quantize_with_report(model, ds, stages.qat, method="ptq" if stages.ptq else "qat")


def weight_sparsity(model) -> dict[str, float]:
    """Fraction of exactly-zero kernel weights per Conv/Dense layer."""
    from ..pruning.layers import kernel_variable, prunable_layers

    return {layer.name: float((kernel_variable(layer).numpy() == 0).mean()) for layer in prunable_layers(model)}
