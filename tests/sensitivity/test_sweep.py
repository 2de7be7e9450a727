"""Sensitivity sweep: values equal a direct prune_layer evaluation; the cache resumes exactly."""
from __future__ import annotations

import json

import numpy as np
import pytest

RATIOS = (0.5, 0.9)


@pytest.fixture(scope="module")
def sweep(digits_cnn_path, tmp_path_factory):
    from tinyml_prune.sensitivity.sweep import SweepConfig, run_sweep

    cache = tmp_path_factory.mktemp("sens-cache")
    cfg = SweepConfig(ratios=RATIOS)
    result = run_sweep(str(digits_cnn_path), "digits", cfg, cache_dir=cache, layers=["pw3", "fc"], progress=False)
    return result, cfg, cache


def test_points_equal_direct_single_layer_pruning(sweep, digits_cnn_path, digits):
    from tinyml_prune.modelio import load_model
    from tinyml_prune.pruning.api import prune_layer

    result, _, _ = sweep
    assert list(result["layers"]) == ["pw3", "fc"]
    model = load_model(digits_cnn_path)
    pt = result["layers"]["fc"]["points"][1]
    assert pt["ratio"] == 0.9 and abs(pt["sparsity"] - 0.9) < 0.001
    pruned = prune_layer(model, "fc", 0.9)
    acc = float((pruned.predict(digits.x_test, verbose=0).argmax(-1) == digits.y_test).mean())
    assert pt["accuracy"] == acc
    assert result["baseline"]["accuracy"] == float(
        (model.predict(digits.x_test, verbose=0).argmax(-1) == digits.y_test).mean())


def test_rerun_reuses_everything_and_resumes_a_cut_cache(sweep, digits_cnn_path):
    from tinyml_prune.sensitivity.sweep import run_sweep

    result, cfg, cache = sweep
    again = run_sweep(str(digits_cnn_path), "digits", cfg, cache_dir=cache, layers=["pw3", "fc"], progress=False)
    assert again["computed"] == 0 and again["reused"] == 4
    assert again["layers"] == result["layers"]
    # simulate an interrupt: keep one finished line and a line cut in the middle
    path = next(cache.glob("*.jsonl"))
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])
    resumed = run_sweep(str(digits_cnn_path), "digits", cfg, cache_dir=cache, layers=["pw3", "fc"], progress=False)
    assert resumed["computed"] == 3 and resumed["reused"] == 1
    assert resumed["layers"] == result["layers"]


def test_other_settings_use_another_cache_entry(sweep, digits_cnn_path):
    from tinyml_prune.sensitivity.sweep import SweepConfig, cache_key

    _, cfg, _ = sweep
    assert cache_key(str(digits_cnn_path), "digits", cfg) != cache_key(
        str(digits_cnn_path), "digits", SweepConfig(ratios=RATIOS, criterion="l2"))
    # ratios are per point, not part of the key
    assert cache_key(str(digits_cnn_path), "digits", cfg) == cache_key(
        str(digits_cnn_path), "digits", SweepConfig(ratios=(0.3,)))


def test_plot_writes_a_png(sweep, tmp_path):
    from tinyml_prune.sensitivity.plot import plot_sensitivity

    p = plot_sensitivity(sweep[0], tmp_path / "s.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_auto_flash_budget_met_as_codegen_counts_it(sweep, digits_cnn_path, digits, tmp_path):
    """flash=: the pruned model's int8 weights, measured by the code generator, fit the budget."""
    from tinyml_prune.modelio import load_model
    from tinyml_prune.pruning import auto

    result, _, _ = sweep
    sens = tmp_path / "sens.json"
    sens.write_text(json.dumps(result))
    model = load_model(digits_cnn_path)
    budget = 5000
    req = auto.AutoRequest(auto.Budget("flash", budget), "sensitivity", str(sens), "csr")
    info = auto.choose_ratios(model, digits, req)
    assert info["predicted"]["weight_bytes"] <= budget
    pruned = auto._one_shot(model, info["ratios"], "l1", digits)
    measured = auto.measured_weight_bytes(pruned, digits, "csr")
    assert measured == info["predicted"]["weight_bytes"]


def test_cli_auto_accuracy_drop_is_met_after_finetuning(sweep, digits_cnn_path, tmp_path):
    from tinyml_prune.cli import main

    result, _, _ = sweep
    sens = tmp_path / "sens.json"
    sens.write_text(json.dumps(result))
    out = tmp_path / "auto.keras"
    rc = main(["prune", str(digits_cnn_path), "--auto", "accuracy-drop=0.01", "--sensitivity", str(sens),
               "--finetune-epochs", "2", "-o", str(out)])
    assert rc == 0
    info = json.loads((tmp_path / "auto.auto.json").read_text())
    assert info["dense_accuracy"] - info["measured"]["accuracy"] <= 0.01
    assert info["measured"]["params_kept"] == info["predicted"]["params_kept"]
    assert any(r > 0 for r in info["ratios"].values())


def test_cli_sensitivity_bad_ratios_is_one_line_error(digits_cnn_path, tmp_path, capsys):
    from tinyml_prune.cli import main

    rc = main(["sensitivity", str(digits_cnn_path), "--ratios", "0.5,1.5", "-o", str(tmp_path / "s.json")])
    assert rc == 2
    assert "ratios must lie strictly between 0 and 1" in capsys.readouterr().err
