"""Greedy allocation invariants on synthetic curves (no TensorFlow)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyml_prune.errors import ModelError
from tinyml_prune.pruning.auto import Budget, LayerCost, allocate, parse_budget

RATIOS = (0.25, 0.5, 0.75)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 5))
    curves, costs = {}, {}
    for i in range(n):
        ds = sorted(draw(st.lists(st.floats(0, 0.2), min_size=3, max_size=3)))
        curves[f"l{i}"] = [(0.0, 0.0)] + list(zip(RATIOS, ds))
        params = draw(st.integers(16, 4096))
        costs[f"l{i}"] = LayerCost(f"l{i}", "Dense", params, params * 3,
                                   {r: int(params * (1 - r)) + 8 for r in (0.0, *RATIOS)})
    return curves, costs


@settings(max_examples=80, deadline=None)
@given(problems(), st.floats(0, 0.3))
def test_accuracy_drop_never_exceeds_the_budget(problem, drop):
    curves, costs = problem
    ratios, damage = allocate(curves, costs, Budget("accuracy-drop", drop))
    assert damage <= drop + 1e-9
    assert set(ratios) == set(curves) and all(r in (0.0, *RATIOS) for r in ratios.values())


@settings(max_examples=80, deadline=None)
@given(problems(), st.floats(0.3, 1.0))
def test_flash_budget_is_met_or_refused(problem, fraction):
    curves, costs = problem
    budget = fraction * sum(c.bytes[0.0] for c in costs.values())
    try:
        ratios, _ = allocate(curves, costs, Budget("flash", budget))
    except ModelError:
        assert sum(c.bytes[0.75] for c in costs.values()) > budget
        return
    assert sum(costs[n].bytes[r] for n, r in ratios.items()) <= budget


def test_greedy_prunes_the_insensitive_layer_first():
    curves = {"a": [(0.0, 0.0), (0.5, 0.05)], "b": [(0.0, 0.0), (0.5, 0.001)]}
    costs = {n: LayerCost(n, "Dense", 100, 100, {}) for n in curves}
    ratios, damage = allocate(curves, costs, Budget("accuracy-drop", 0.01))
    assert ratios == {"a": 0.0, "b": 0.5} and damage == 0.001


@pytest.mark.parametrize("text, kind, value", [("flash=48KiB", "flash", 49152), ("flash=1000", "flash", 1000),
                                               ("macs=0.5", "macs", 0.5), ("accuracy-drop=0.01", "accuracy-drop", 0.01)])
def test_parse_budget(text, kind, value):
    assert parse_budget(text) == Budget(kind, value)


@pytest.mark.parametrize("text", ["flash=3furlongs", "macs=2", "speed=1", "accuracy-drop=1.5"])
def test_parse_budget_rejects(text):
    with pytest.raises(ModelError):
        parse_budget(text)
