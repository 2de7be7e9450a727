"""Sweeps and searches on Ray: the same bytes as local runs, and a killed worker is retried.

One small embedded Ray instance (2 CPUs, no dashboard, an 80 MiB object store) serves the
whole module and is shut down at its end.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tinyml-prune[ray]')")

LAYERS = ["pw3", "fc"]
RATIOS = "0.5,0.9"


@pytest.fixture(scope="module")
def ray_instance():
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 << 20, log_to_driver=False,
                 logging_level="ERROR")
    yield
    ray.shutdown()


def _sens_cli(model, out, cache, *extra):
    from tinyml_prune.cli import main

    rc = main(["sensitivity", str(model), "--ratios", RATIOS, "--layers", ",".join(LAYERS), "--recovery-epochs", "1",
               "--cache-dir", str(cache), "-o", str(out), *extra])
    assert rc == 0
    return out.read_bytes()


@pytest.fixture(scope="module")
def local_and_ray(ray_instance, digits_cnn_path, tmp_path_factory):
    d = tmp_path_factory.mktemp("exec")
    local = _sens_cli(digits_cnn_path, d / "local.json", d / "cache-local")
    on_ray = _sens_cli(digits_cnn_path, d / "ray.json", d / "cache-ray", "--executor", "ray", "--max-retries", "2")
    return d, local, on_ray


def test_local_and_ray_write_the_same_sens_json(local_and_ray):
    _, local, on_ray = local_and_ray
    assert local == on_ray
    result = json.loads(local)
    assert result["computed"] == 4 and result["settings"]["recovery_epochs"] == 1


def test_auto_picks_the_same_ratios_on_both(local_and_ray, digits_cnn_path, digits):
    from tinyml_prune.modelio import load_model
    from tinyml_prune.pruning import auto

    d, _, _ = local_and_ray
    model = load_model(digits_cnn_path)
    picks = [auto.choose_ratios(model, digits, auto.AutoRequest(auto.Budget("accuracy-drop", 0.02), "sensitivity",
                                                                str(d / name)))["ratios"]
             for name in ("local.json", "ray.json")]
    assert picks[0] == picks[1] and any(r > 0 for r in picks[0].values())


def _unit_workers() -> list[int]:
    """Ray worker processes of this user that are running one of our units right now."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                title = f.read()
            if os.stat(f"/proc/{p}").st_uid != os.getuid():
                continue
        except OSError:
            continue
        if title.startswith(b"ray::_ray_unit"):
            pids.append(int(p))
    return pids


def test_a_worker_killed_mid_sweep_is_retried_and_the_result_is_unchanged(local_and_ray, digits_cnn_path):
    from tinyml_prune.artifacts import write_json
    from tinyml_prune.executors import ExecutorSpec
    from tinyml_prune.sensitivity.sweep import SweepConfig, run_sweep

    d, local, _ = local_and_ray
    cfg = SweepConfig(ratios=(0.5, 0.9), recovery_epochs=1)
    box = {}

    def sweep():
        try:
            box["result"] = run_sweep(str(digits_cnn_path), "digits", cfg, cache_dir=d / "cache-killed",
                                      layers=LAYERS, progress=False, executor=ExecutorSpec("ray", max_retries=2))
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = e

    t = threading.Thread(target=sweep)
    t.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and t.is_alive() and time.monotonic() < deadline:
        busy = _unit_workers()
        if busy:
            time.sleep(0.5)  # let it get into the unit
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.1)
    t.join(120)
    assert killed is not None, "no worker was seen running a unit"
    assert "error" not in box, box.get("error")
    write_json(d / "killed.json", box["result"])
    assert (d / "killed.json").read_bytes() == local


def test_search_on_ray_equals_local(ray_instance, digits_cnn_path, tmp_path):
    from tinyml_prune.cli import main
    from tinyml_prune.sensitivity.search import SearchConfig, run_search

    local = run_search(str(digits_cnn_path), "digits", SearchConfig(accuracy_drop=0.02, ratios=(0.7, 0.9)),
                       cache_dir=tmp_path / "c1", progress=False)
    out = tmp_path / "search.json"
    rc = main(["search", str(digits_cnn_path), "--budget", "accuracy-drop=0.02", "--ratios", "0.7,0.9",
               "--executor", "ray", "--cache-dir", str(tmp_path / "c2"), "-o", str(out)])
    assert rc == 0
    on_ray = json.loads(out.read_text())
    for k in ("chosen", "points", "pareto", "steps", "baseline"):
        assert on_ray[k] == json.loads(json.dumps(local[k])), k
    assert (tmp_path / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "search.md").read_text()
    assert "(chosen)" in table and table.count("\n|") == len(local["pareto"]) + 2  # header, rule, rows
