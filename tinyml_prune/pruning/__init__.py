"""Pruning: criteria (registry), one masker for unstructured and N:M sparsity, schedules,
and the ``prune`` / ``prune_layer`` entry points. Channel pruning lives in ``pruning.channel``.

Attributes are imported lazily so that ``import tinyml_prune.pruning`` stays cheap.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "prune": "api", "prune_layer": "api", "PruneReport": "report",
    "PruneConfig": "config", "LayerConfig": "config", "FinetuneConfig": "config", "load_recipe": "config",
    "Masker": "masker", "make_criterion": "criteria", "criterion_names": "criteria",
    "make_context": "criteria", "ScoreContext": "criteria", "Criterion": "criteria",
    "register_criterion": "criteria", "make_schedule": "schedules",
}


def __getattr__(name):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)


__all__ = sorted(_EXPORTS)
