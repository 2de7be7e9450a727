"""Pruning schedules: ``schedule(step) -> (should_prune, sparsity)``, serializable to dicts.

Steps count optimizer steps of the fine-tuning run (step 0 = before the first update).
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

_SCHEDULES: dict[str, type] = {}


def _register(cls):
    _SCHEDULES[cls.kind] = cls
    return cls


class Schedule(ABC):
    kind: ClassVar[str]

    @abstractmethod
    def __call__(self, step: int) -> tuple[bool, float]:
        """(prune at this step?, target sparsity)."""

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @property
    @abstractmethod
    def final_sparsity(self) -> float:
        """The sparsity the schedule ends at."""


def schedule_from_dict(d: dict) -> Schedule:
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; known: {', '.join(_SCHEDULES)}")
    return _SCHEDULES[kind](**d)


@_register
@dataclass(frozen=True)
class OneShot(Schedule):
    """Prune to ``sparsity`` once, before fine-tuning."""

    kind: ClassVar[str] = "oneshot"
    sparsity: float

    def __call__(self, step):
        return (step == 0, self.sparsity)

    @property
    def final_sparsity(self):
        return self.sparsity


@_register
@dataclass(frozen=True)
class Iterative(Schedule):
    """``rounds`` rounds of prune -> fine-tune; round r (0-based) prunes to sparsities[r]."""

    kind: ClassVar[str] = "iterative"
    sparsities: tuple[float, ...]
    steps_per_round: int

    def __post_init__(self):
        object.__setattr__(self, "sparsities", tuple(float(s) for s in self.sparsities))
        if not self.sparsities or self.steps_per_round < 1:
            raise ValueError("iterative schedule needs at least one round of at least one step")

    @classmethod
    def linear(cls, target: float, rounds: int, steps_per_round: int) -> "Iterative":
        return cls(tuple(target * (r + 1) / rounds for r in range(rounds)), steps_per_round)

    def __call__(self, step):
        r, offset = divmod(step, self.steps_per_round)
        r = min(r, len(self.sparsities) - 1)
        return (offset == 0 and step < self.steps_per_round * len(self.sparsities), self.sparsities[r])

    @property
    def final_sparsity(self):
        return self.sparsities[-1]


@_register
@dataclass(frozen=True)
class PolynomialDecay(Schedule):
    """Gradual pruning (Zhu & Gupta 2017): s(t) = s_f + (s_i - s_f)·(1 - (t - t0)/(t1 - t0))^power,
    pruning every ``frequency`` steps between ``begin_step`` and ``end_step`` (as tfmot's
    PolynomialDecay)."""

    kind: ClassVar[str] = "gradual"
    initial_sparsity: float
    final_sparsity_: float
    begin_step: int
    end_step: int
    power: float = 3.0
    frequency: int = 10

    def __post_init__(self):
        if self.end_step <= self.begin_step or self.frequency < 1:
            raise ValueError(f"gradual schedule needs end_step > begin_step and frequency >= 1 "
                             f"(got {self.begin_step}..{self.end_step}, frequency {self.frequency})")

    def sparsity_at(self, step: int) -> float:
        t = min(max(step, self.begin_step), self.end_step)
        frac = (t - self.begin_step) / (self.end_step - self.begin_step)
        return self.final_sparsity_ + (self.initial_sparsity - self.final_sparsity_) * (1 - frac) ** self.power

    def __call__(self, step):
        in_range = self.begin_step <= step <= self.end_step
        due = (step - self.begin_step) % self.frequency == 0 or step == self.end_step
        return (in_range and due, self.sparsity_at(step))

    @property
    def final_sparsity(self):
        return self.final_sparsity_


def make_schedule(kind: str, target: float, total_steps: int, rounds: int = 2, power: float = 3.0,
                  frequency: int = 0, end_fraction: float = 0.75) -> Schedule:
    """Build a schedule for a fine-tuning run of ``total_steps`` optimizer steps."""
    if kind == "oneshot":
        return OneShot(target)
    if kind == "iterative":
        return Iterative.linear(target, rounds, max(1, total_steps // max(rounds, 1)))
    if kind == "gradual":
        end = max(1, int(round(end_fraction * total_steps)))
        freq = frequency or max(1, end // 10)
        return PolynomialDecay(0.0, target, 0, end, power, freq)
    raise ValueError(f"unknown schedule {kind!r}; use oneshot, iterative or gradual")
