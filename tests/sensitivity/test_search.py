"""Executor plumbing and the latency search's pieces, without Ray (cheap)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tinyml_prune.executors import ExecutorError, ExecutorSpec, run_units
from tinyml_prune.sensitivity.search import pareto


def _setup(payload):
    return payload


def _die_once(state, unit):
    """Kills its own worker process the first time it sees ``unit == 1`` (a marker file remembers)."""
    marker = Path(state["dir"]) / f"died-{unit}"
    if unit == 1 and not marker.exists():
        marker.write_text("x")
        os.kill(os.getpid(), 9)
    return {"unit": unit, "square": unit * unit}


def test_local_pool_retries_a_dead_worker(tmp_path):
    rows = dict(run_units(ExecutorSpec("local", jobs=2, max_retries=1), _setup, _die_once, {"dir": str(tmp_path)},
                          [0, 1, 2, 3]))
    assert {u: r["square"] for u, r in rows.items()} == {0: 0, 1: 1, 2: 4, 3: 9}
    assert (tmp_path / "died-1").exists()


def test_local_pool_gives_up_after_max_retries(tmp_path):
    with pytest.raises(ExecutorError, match="max retries 0"):
        list(run_units(ExecutorSpec("local", jobs=2, max_retries=0), _setup, _die_once, {"dir": str(tmp_path)}, [1, 2]))


@pytest.mark.parametrize("kw, msg", [({"kind": "spark"}, "use local or ray"), ({"max_retries": -1}, ">= 0"),
                                     ({"address": "auto"}, "needs --executor ray")])
def test_executor_spec_refuses(kw, msg):
    with pytest.raises(ExecutorError, match=msg):
        ExecutorSpec(**kw)


def test_pareto_keeps_only_undominated_points():
    pts = [{"accuracy": 0.98, "latency": 100, "flash": 50},   # dense: best accuracy
           {"accuracy": 0.97, "latency": 80, "flash": 40},    # front
           {"accuracy": 0.96, "latency": 90, "flash": 45},    # dominated by the previous one
           {"accuracy": 0.90, "latency": 60, "flash": 60},    # fastest: front
           {"accuracy": 0.97, "latency": 80, "flash": 40}]    # a tie is not domination
    assert pareto(pts) == [3, 1, 4, 0]


def test_predicted_latency_and_flash_follow_the_cost_model(digits_cnn_path):
    from tinyml_prune.modelio import load_model
    from tinyml_prune.sensitivity.search import layer_models, predict

    model = load_model(digits_cnn_path)
    lms = layer_models(model, (0.5, 0.9), "qemu-m4")
    assert not lms["dw2"].searchable  # generated code keeps depthwise dense
    fc = lms["fc"]
    # a sparse format is only taken where the cost model predicts it cheaper; then fewer instructions
    assert fc.format[0.0] == "dense" and fc.format[0.9] != "dense"
    assert fc.instructions[0.9] < fc.instructions[0.0] and fc.bytes[0.9] < fc.bytes[0.0]
    lat0, flash0 = predict(lms, {})
    lat, flash = predict(lms, {"fc": 0.9})
    assert lat0 - lat == pytest.approx(fc.instructions[0.0] - fc.instructions[0.9])
    assert flash0 - flash == fc.bytes[0.0] - fc.bytes[0.9]
