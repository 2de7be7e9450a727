"""prune()/prune_layer() and `tinyml prune` on the trained digits CNN and a fixture."""
import json

import numpy as np
import pytest

from conftest import fixture_path
from tinyml_prune.errors import ModelError
from tinyml_prune.modelio import load_model
from tinyml_prune.pruning import prune, prune_layer
from tinyml_prune.pruning.config import config_from_dict


@pytest.fixture(scope="module")
def cnn(digits_cnn_path):
    return load_model(digits_cnn_path)


def _zeros(model, name):
    return float((model.get_layer(name).kernel.numpy() == 0).mean())


def test_nm_with_finetune_keeps_groups_and_reselects(cnn, digits, tmp_path):
    cfg = config_from_dict({"granularity": "nm", "finetune": {"epochs": 1, "reselect_every": 5}})
    before = cnn.get_weights()
    pruned, report = prune(cnn, cfg, digits)
    assert all(np.array_equal(a, b) for a, b in zip(before, cnn.get_weights()))  # input untouched
    k = pruned.get_layer("fc").kernel.numpy()  # [in, out]: groups of 4 along axis 0
    assert ((k.T.reshape(-1, 4) != 0).sum(axis=1) <= 2).all()
    rows = {r.name: r for r in report.rows}
    assert rows["conv1"].pruning == "dense" and "1 < M=4" in rows["conv1"].note
    assert rows["fc"].pruning == "2:4" and rows["fc"].sparsity == pytest.approx(0.5, abs=0.005)
    assert rows["fc"].macs_after == np.count_nonzero(k)
    # a plain tf_keras model: saves, reloads, zeros intact
    path = tmp_path / "p.keras"
    pruned.save(path)
    assert _zeros(load_model(path), "fc") == pytest.approx(0.5, abs=0.005)
    # masks moved during fine-tuning: the final mask is not the one-shot magnitude mask
    oneshot, _ = prune(cnn, config_from_dict({"granularity": "nm"}), digits)
    assert not np.array_equal(oneshot.get_layer("fc").kernel.numpy() != 0, k != 0)


def test_gradual_reaches_target_and_recovers(cnn, digits):
    from tinyml_prune import models

    cfg = config_from_dict({"sparsity": 0.8, "schedule": {"kind": "gradual"}, "finetune": {"epochs": 3}})
    pruned, report = prune(cnn, cfg, digits)
    for r in report.rows:
        if r.pruning == "unstructured":
            assert abs(r.sparsity - 0.8) <= 0.005
    oneshot, _ = prune(cnn, config_from_dict({"sparsity": 0.8}), digits)
    assert models.accuracy(pruned, digits.x_test, digits.y_test) > models.accuracy(oneshot, digits.x_test, digits.y_test)


def test_prune_layer_touches_one_layer(cnn, digits):
    p = prune_layer(cnn, "pw3", 0.75, criterion="taylor", data=digits)
    assert _zeros(p, "pw3") == pytest.approx(0.75, abs=0.005)
    assert _zeros(p, "fc") == 0.0 and _zeros(p, "conv1") == 0.0
    with pytest.raises(ModelError, match="bn2"):
        prune_layer(cnn, "bn2", 0.5)


def test_cli_writes_model_and_json(digits_cnn_path, tmp_path):
    from tinyml_prune.cli import main

    out = tmp_path / "pruned.keras"
    assert main([ "prune", str(digits_cnn_path), "--sparsity", "0.6", "--criterion", "l2", "--skip", "last",
                  "-o", str(out)]) == 0
    rep = json.loads((tmp_path / "pruned.prune.json").read_text())
    layers = {r["name"]: r for r in rep["layers"]}
    assert layers["fc"]["pruning"] == "dense" and layers["pw3"]["sparsity"] == pytest.approx(0.6, abs=0.005)
    assert rep["totals"]["params_after"] < rep["totals"]["params_before"]
    assert main(["prune", str(digits_cnn_path), "-o", str(out)]) == 2  # refuses to overwrite


def test_fixture_without_data_uses_probe_inputs(tmp_path):
    from tinyml_prune.cli import main

    model = fixture_path("str_ww_ref_model.h5")
    out = tmp_path / "ww.keras"
    assert main(["prune", str(model), "--data", "probe:64", "--granularity", "nm", "--criterion", "taylor",
                 "-o", str(out)]) == 0
    rep = json.loads((tmp_path / "ww.prune.json").read_text())
    rows = {r["name"]: r for r in rep["layers"]}
    assert rows["conv2d_1"]["pruning"] == "2:4"
    assert "not divisible" in rows["dense"]["note"] or rows["dense"]["pruning"] == "2:4"
    assert 0.0 <= rep["metrics"]["agreement_with_dense"] <= 1.0


def test_prune_layer_channel_slims_only_that_group(cnn):
    p = prune_layer(cnn, "pw3", 0.5, criterion="l1", granularity="channel")
    assert p.get_layer("pw3").kernel.shape[-1] == cnn.get_layer("pw3").kernel.shape[-1] // 2
    assert p.get_layer("conv1").kernel.shape == cnn.get_layer("conv1").kernel.shape


def test_schedules_that_need_finetuning_say_so(cnn, digits):
    with pytest.raises(ModelError, match="finetune-epochs"):
        prune(cnn, config_from_dict({"schedule": {"kind": "gradual"}}), digits)
    with pytest.raises(ModelError, match="finetune-epochs"):
        prune(cnn, config_from_dict({"granularity": "channel", "schedule": {"kind": "iterative"}}), digits)


def test_iterative_unstructured_reaches_target(cnn, digits):
    cfg = config_from_dict({"sparsity": 0.6, "criterion": "hessian", "criterion_options": {"max_samples": 4},
                            "schedule": {"kind": "iterative", "rounds": 2}, "finetune": {"epochs": 1}})
    _, report = prune(cnn, cfg, digits)
    assert all(abs(r.sparsity - 0.6) <= 0.005 for r in report.rows if r.pruning == "unstructured")


def test_cli_channel_granularity_slims(digits_cnn_path, tmp_path):
    from tinyml_prune.cli import main

    out = tmp_path / "ch.keras"
    assert main(["prune", str(digits_cnn_path), "--granularity", "channel", "--criterion", "l1",
                 "--sparsity", "0.5", "-o", str(out)]) == 0
    slim = load_model(out)
    assert slim.count_params() < load_model(digits_cnn_path).count_params()
    rep = json.loads((tmp_path / "ch.prune.json").read_text())
    assert {r["name"]: r["pruning"] for r in rep["layers"]}["pw3"] == "channel"
