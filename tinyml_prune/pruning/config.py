"""Pruning configuration: frozen dataclasses, loadable from a TOML recipe.

A recipe (all keys optional; command-line options given explicitly win over it):

    granularity = "nm"          # unstructured | nm | channel
    sparsity = 0.5              # target fraction of zeros (unstructured, channel)
    nm = "2:4"                  # N:M (keep N of every M along the input channels)
    criterion = "hessian"
    scope = "layer"             # unstructured only: "layer" (each layer hits the target) or "global"
    skip = ["first"]            # 'first', 'last' or layer names
    include_depthwise = false
    data_samples = 256          # inputs used by data-driven criteria

    [criterion_options]         # fields of the criterion's dataclass
    max_samples = 64

    [schedule]
    kind = "gradual"            # auto (default) | oneshot | iterative | gradual
    rounds = 2                  # iterative
    power = 3.0                 # gradual
    frequency = 0               # gradual, 0 = ten pruning steps
    end_fraction = 0.75         # gradual: reach the target after this fraction of fine-tuning

    [finetune]
    epochs = 2
    learning_rate = 3e-4        # reduced: a tenth of the training rate
    batch_size = 32
    reselect_every = 20         # re-select masks from the dense shadow weights every k steps (0 = never)
    distill = "auto"            # knowledge distillation from the dense model: auto (on for channel) | on | off
    temperature = 4.0
    distill_alpha = 1.0         # KL weight; the rest is cross-entropy on the labels
    batchnorm = "auto"          # BN during fine-tuning: auto (frozen when distilling obs/chita) | frozen | train

    [layers.fc]                 # per-layer overrides, merged over the defaults above
    sparsity = 0.8
    [layers.conv1]
    skip = true
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ..errors import ModelError, TinymlError

GRANULARITY_CHOICES = ("unstructured", "nm", "channel")


class RecipeError(TinymlError):
    """A recipe file that cannot be read or has unknown / invalid keys."""


def parse_nm(text: str | tuple | list) -> tuple[int, int]:
    if isinstance(text, (tuple, list)):
        n, m = text
    else:
        try:
            n, m = (int(p) for p in str(text).split(":"))
        except ValueError:
            raise RecipeError(f"N:M must look like '2:4' (got {text!r})") from None
    n, m = int(n), int(m)
    if not 0 < n < m:
        raise RecipeError(f"N:M needs 0 < N < M (got {n}:{m})")
    return n, m


@dataclass(frozen=True)
class LayerConfig:
    """Per-layer overrides; None = inherit from PruneConfig."""

    sparsity: float | None = None
    nm: tuple[int, int] | None = None
    skip: bool = False
    min_channels: int | None = None


# "auto" prunes gradually where that measured better: unstructured at >= 70% with >= 4
# fine-tuning epochs (digits CNN at 80%, 8 epochs: 0.958 vs 0.936 one-shot, layer scope;
# 0.976 vs 0.967 global); with fewer epochs the ramp has no time to recover and one-shot wins.
GRADUAL_MIN_SPARSITY = 0.7
GRADUAL_MIN_EPOCHS = 4


@dataclass(frozen=True)
class ScheduleConfig:
    kind: str = "auto"
    rounds: int = 2
    power: float = 3.0
    frequency: int = 0
    end_fraction: float = 0.75


def resolve_schedule(config: "PruneConfig") -> "PruneConfig":
    """``config`` with schedule ``auto`` replaced by the schedule it stands for."""
    if config.schedule.kind != "auto":
        return config
    gradual = (config.granularity == "unstructured" and config.sparsity >= GRADUAL_MIN_SPARSITY
               and config.finetune.epochs >= GRADUAL_MIN_EPOCHS)
    return replace(config, schedule=replace(config.schedule, kind="gradual" if gradual else "oneshot"))


BATCHNORM_CHOICES = ("auto", "frozen", "train")


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 0
    learning_rate: float = 3e-4
    batch_size: int = 32
    reselect_every: int = 20
    seed: int = 0
    distill: str = "auto"         # distil the dense model's logits: auto (= on for channel) | on | off
    temperature: float = 4.0      # distillation temperature T (KL on softmax(z/T), scaled by T²)
    # Weight of the KL term; 1 − α on the labels' cross-entropy. 1 (pure distillation) by
    # default: the labels pull the student away from the teacher wherever the dense model is
    # wrong on them (ResNet-8 on image patches, 0.42 training accuracy: α = 0.5 lowered the
    # agreement of a one-shot OBS model from 0.88 to 0.69 in 2 epochs, α = 1 kept 0.84).
    distill_alpha: float = 1.0
    # BatchNormalization while fine-tuning: "frozen" runs it in inference mode with its moving
    # statistics fixed (those the one-shot pruner re-estimated); "train" uses batch statistics
    # and updates them; "auto" = frozen when distilling a model reconstructed by obs / chita.
    # With α = 1 the same run went 0.88 -> 0.84 training BN, 0.88 -> 0.93 frozen: the
    # teacher's targets come from the inference-mode dense model; batch statistics differ.
    batchnorm: str = "auto"

    def __post_init__(self):
        d = {True: "on", False: "off"}.get(self.distill, self.distill)
        if d not in ("auto", "on", "off"):
            raise RecipeError(f"finetune.distill {self.distill!r}: use auto, on or off")
        object.__setattr__(self, "distill", d)
        if self.batchnorm not in BATCHNORM_CHOICES:
            raise RecipeError(f"finetune.batchnorm {self.batchnorm!r}: use {', '.join(BATCHNORM_CHOICES)}")
        if self.temperature <= 0 or not 0.0 <= self.distill_alpha <= 1.0:
            raise RecipeError(f"finetune: temperature must be > 0 and distill_alpha in [0, 1] "
                              f"(got {self.temperature}, {self.distill_alpha})")


@dataclass(frozen=True)
class PruneConfig:
    granularity: str = "unstructured"
    sparsity: float = 0.5
    nm: tuple[int, int] = (2, 4)
    criterion: str = "l1"
    criterion_options: Mapping = field(default_factory=lambda: MappingProxyType({}))
    scope: str = "layer"
    skip: tuple[str, ...] = ()
    include_depthwise: bool = False
    data_samples: int = 256
    min_channels: int = 1
    schedule: ScheduleConfig = ScheduleConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    layers: Mapping[str, LayerConfig] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        if self.granularity not in GRANULARITY_CHOICES:
            raise RecipeError(f"granularity {self.granularity!r}: use {', '.join(GRANULARITY_CHOICES)}")
        if not 0.0 <= self.sparsity < 1.0:
            raise RecipeError(f"sparsity {self.sparsity} must be in [0, 1)")
        if self.scope not in ("layer", "global"):
            raise RecipeError(f"scope {self.scope!r}: use 'layer' or 'global'")
        if self.schedule.kind not in ("auto", "oneshot", "iterative", "gradual"):
            raise RecipeError(f"schedule {self.schedule.kind!r}: use auto, oneshot, iterative or gradual")
        for name, lc in self.layers.items():
            if lc.sparsity is not None and not 0.0 <= lc.sparsity < 1.0:
                raise RecipeError(f"layers.{name}.sparsity {lc.sparsity} must be in [0, 1)")
            if lc.sparsity is not None and self.scope == "global" and self.granularity == "unstructured":
                raise RecipeError(f"layers.{name}.sparsity: a per-layer target contradicts scope = "
                                  f"'global' (one threshold for all layers); use scope = 'layer'")
        object.__setattr__(self, "nm", parse_nm(self.nm))
        object.__setattr__(self, "skip", tuple(self.skip))
        object.__setattr__(self, "criterion_options", MappingProxyType(dict(self.criterion_options)))
        object.__setattr__(self, "layers", MappingProxyType(dict(self.layers)))

    def for_layer(self, name: str) -> LayerConfig:
        """This layer's settings: its overrides merged over the defaults."""
        lc = self.layers.get(name, LayerConfig())
        return LayerConfig(
            sparsity=self.sparsity if lc.sparsity is None else lc.sparsity,
            nm=self.nm if lc.nm is None else parse_nm(lc.nm),
            skip=lc.skip or name in self.skip,
            min_channels=self.min_channels if lc.min_channels is None else lc.min_channels,
        )

    def check_layers(self, model) -> None:
        names = {l.name for l in model.layers}
        unknown = sorted(set(self.layers) - names)
        if unknown:
            raise ModelError(f"recipe overrides unknown layer(s) {', '.join(unknown)} "
                             f"(model layers: {', '.join(l.name for l in model.layers)})")

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["schedule"] = dataclasses.asdict(self.schedule)
        d["finetune"] = dataclasses.asdict(self.finetune)
        d["criterion_options"] = dict(self.criterion_options)
        d["layers"] = {k: {f: v for f, v in dataclasses.asdict(lc).items() if v is not None and v is not False}
                       for k, lc in self.layers.items()}
        d["nm"] = f"{self.nm[0]}:{self.nm[1]}"
        d["skip"] = list(self.skip)
        return d


def _build(cls, data: Mapping, where: str):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        return cls(**data)
    except TypeError as e:
        raise RecipeError(f"{where}: {e}") from None


def config_from_dict(data: Mapping, where: str = "recipe") -> PruneConfig:
    data = dict(data)
    if "schedule" in data and isinstance(data["schedule"], Mapping):
        data["schedule"] = _build(ScheduleConfig, data["schedule"], f"{where} [schedule]")
    elif "schedule" in data:
        data["schedule"] = ScheduleConfig(kind=str(data["schedule"]))
    if "finetune" in data:
        data["finetune"] = _build(FinetuneConfig, data["finetune"], f"{where} [finetune]")
    if "layers" in data:
        data["layers"] = {name: _build(LayerConfig, lc, f"{where} [layers.{name}]")
                          for name, lc in data["layers"].items()}
    if "nm" in data:
        data["nm"] = parse_nm(data["nm"])
    if "skip" in data and isinstance(data["skip"], str):
        data["skip"] = tuple(s for s in data["skip"].split(",") if s)
    return _build(PruneConfig, data, where)


def load_recipe(path: str | Path, **overrides) -> PruneConfig:
    """A PruneConfig from a TOML recipe, with ``overrides`` (non-None values) on top."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise RecipeError(f"recipe {p} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"recipe {p}: not valid TOML ({e})") from None
    return merge(config_from_dict(data, str(p)), **overrides)


def merge(config: PruneConfig, **overrides) -> PruneConfig:
    """``config`` with the given non-None top-level fields replaced (nested dicts merged)."""
    top = {}
    for k, v in overrides.items():
        if v is None:
            continue
        if k in ("schedule", "finetune") and isinstance(v, Mapping):
            v = replace(getattr(config, k), **v)
        top[k] = v
    return replace(config, **top)
