"""The CLI's promises for bad inputs: one line and exit 2 for the user's data, model, outputs and
environment, checked before any work; layers left dense are never left silently."""
from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tinyml_prune.cli import main

@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("TINYML_DEBUG", raising=False)


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.startswith(("error:", "internal error:"))]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Tiny untrained digits-shaped models: a CNN and one with an LSTM (seconds, not a training run)."""
    from tinyml_prune.kerasenv import keras

    L = keras.layers
    d = tmp_path_factory.mktemp("cli_models")
    keras.utils.set_random_seed(0)
    i = L.Input((8, 8, 1))
    x = L.Conv2D(4, 3, activation="relu", name="conv")(i)
    x = L.Flatten()(x)
    keras.Model(i, L.Dense(10, activation="softmax", name="fc")(x), name="tiny").save(d / "tiny.keras")
    i = L.Input((8, 8, 1))
    x = L.Reshape((8, 8))(i)
    x = L.Conv1D(6, 3, activation="relu", name="conv1d")(x)
    x = L.LSTM(8, name="lstm")(x)
    keras.Model(i, L.Dense(10, activation="softmax", name="fc")(x), name="rnn").save(d / "rnn.keras")
    return {"tiny": d / "tiny.keras", "rnn": d / "rnn.keras"}


@pytest.fixture(scope="session")
def tiny_tflite(models, digits, tmp_path_factory):
    from tinyml_prune.modelio import load_model
    from tinyml_prune.quantize import convert_ptq

    p = tmp_path_factory.mktemp("cli_tflite") / "tiny.tflite"
    p.write_bytes(convert_ptq(load_model(models["tiny"]), digits.calibration(20)))
    return p


@pytest.fixture(scope="session")
def bad_data(tmp_path_factory, digits):
    d = tmp_path_factory.mktemp("cli_data")
    ds = digits

    def save(name, **over):
        arrays = dict(x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test)
        arrays.update(over)
        np.savez(d / name, **arrays)
        return d / name

    x = ds.x_train.copy()
    x[5, 3, 2, 0] = np.nan
    ylab = ds.y_train.astype(np.float32)
    ylab[7] = np.inf
    return {
        "nan_x": save("nan_x.npz", x_train=x),
        "inf_y": save("inf_y.npz", y_train=ylab),
        "labels20": save("labels20.npz", y_train=ds.y_train * 2, y_test=ds.y_test * 2),
        "onehot12": save("onehot12.npz", y_train=np.eye(12)[ds.y_train], y_test=np.eye(12)[ds.y_test]),
        "shape": save("shape.npz", x_train=ds.x_train[:, :6], x_test=ds.x_test[:, :6]),
    }


# ------------------------------------------------------------------ data, before any training

def test_train_refuses_nan_inputs_before_training(capsys, tmp_path, bad_data):
    rc, _, err = run(capsys, "train", "--data", bad_data["nan_x"], "--epochs", "1", "-o", tmp_path / "m.keras")
    line = one_error_line(err)
    assert rc == 2 and "x_train[5, 3, 2, 0] is nan" in line
    assert not (tmp_path / "m.keras").exists()


def test_non_finite_labels_name_the_index(capsys, tmp_path, bad_data):
    rc, _, err = run(capsys, "train", "--data", bad_data["inf_y"], "-o", tmp_path / "m.keras")
    assert rc == 2 and "y_train[7] is inf" in one_error_line(err)


def test_train_refuses_the_extension_before_training(capsys, tmp_path):
    rc, _, err = run(capsys, "train", "-o", tmp_path / "x.txt")
    assert rc == 2 and "must end in .keras or .h5" in one_error_line(err)


@pytest.mark.parametrize("command", ["prune", "quantize"])
def test_labels_beyond_the_outputs(capsys, tmp_path, models, bad_data, command):
    rc, _, err = run(capsys, command, models["tiny"], "--data", bad_data["labels20"], "-o",
                     tmp_path / ("m.keras" if command == "prune" else "m.tflite"))
    line = one_error_line(err)
    assert rc == 2 and "y_train[" in line and "has 10 outputs" in line, line
    assert list(tmp_path.iterdir()) == []


def test_one_hot_width_mismatch(capsys, tmp_path, models, bad_data):
    rc, _, err = run(capsys, "quantize", models["tiny"], "--data", bad_data["onehot12"], "-o", tmp_path / "m.tflite")
    assert rc == 2 and "one-hot rows of width 12" in one_error_line(err)


def test_input_shape_mismatch(capsys, tmp_path, models, bad_data):
    rc, _, err = run(capsys, "prune", models["tiny"], "--data", bad_data["shape"], "-o", tmp_path / "m.keras")
    line = one_error_line(err)
    assert rc == 2 and "x_train has samples of shape (6, 8, 1)" in line and "(8, 8, 1)" in line


# ------------------------------------------------------------------ layers a stage cannot handle

@pytest.mark.parametrize("granularity", ["unstructured", "channel"])
def test_prune_lists_the_lstm_as_kept_dense(capsys, tmp_path, models, granularity):
    out = tmp_path / "p.keras"
    rc, table, err = run(capsys, "prune", models["rnn"], "--granularity", granularity, "-o", out)
    assert rc == 0, err
    row = next(l for l in table.splitlines() if l.startswith("lstm "))
    assert "kept dense: recurrent layer (LSTM)" in row
    layers = {r["name"]: r for r in json.loads((tmp_path / "p.prune.json").read_text())["layers"]}
    assert layers["lstm"]["pruning"] == "dense" and layers["lstm"]["note"].startswith("kept dense:")


def test_quantize_names_the_recurrent_layer(capsys, tmp_path, models):
    rc, _, err = run(capsys, "quantize", models["rnn"], "--ptq", "-o", tmp_path / "q.tflite")
    line = one_error_line(err)
    assert rc == 2 and "'lstm' (LSTM)" in line
    assert list(tmp_path.iterdir()) == []


def test_qat_refuses_custom_layers():
    from tinyml_prune.cli.checks import check_quantizable
    from tinyml_prune.errors import UnsupportedLayerError
    from tinyml_prune.kerasenv import keras

    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    i = keras.layers.Input((4,))
    model = keras.Model(i, keras.layers.Dense(2)(Scale(name="scale")(i)))
    with pytest.raises(UnsupportedLayerError, match="'scale': custom layer Scale"):
        check_quantizable(model, "qat")
    check_quantizable(model, "ptq")  # the converter may trace it


def test_converter_failure_is_one_line(capsys, tmp_path, models, monkeypatch):
    from tensorflow.lite.python.convert_phase import ConverterError

    from tinyml_prune.quantize import quantize_report

    text = ("<unknown>:0: error: loc(\"model/lstm/TensorListReserve\"): 'tf.TensorListReserve' op requires "
            "element_shape to be static during TF Lite transformation pass\n" + "    sys.exit(main())\n^\n" * 12)

    def boom(*a, **k):
        raise ConverterError(text)

    monkeypatch.setattr(quantize_report, "quantize_with_report", boom)
    rc, _, err = run(capsys, "quantize", models["tiny"], "--ptq", "-o", tmp_path / "q.tflite")
    line = one_error_line(err)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "tf.TensorListReserve" in line and "layer 'lstm'" in line and "TINYML_DEBUG=1" in line


# ------------------------------------------------------------------ outputs and environment

@pytest.mark.parametrize("command", ["prune", "quantize", "codegen"])
def test_unwritable_output_directory_before_work(capsys, tmp_path, models, monkeypatch, command):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):  # what a read-only directory does to a non-root user
        if dir is not None and Path(dir) == ro:
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    loaded = []
    import tinyml_prune.modelio as modelio

    monkeypatch.setattr(modelio, "load_model", lambda *a, **k: loaded.append(a) or pytest.fail("work began"))
    src = models["tiny"]
    if command == "codegen":
        src = tmp_path / "m.tflite"
        src.write_bytes(b"")
    out = ro / {"prune": "p.keras", "quantize": "q.tflite", "codegen": "gen"}[command]
    rc, _, err = run(capsys, command, src, "-o", out)
    line = one_error_line(err)
    assert rc == 2 and line.startswith("error: cannot write into") and "Permission denied" in line
    assert not loaded and list(ro.iterdir()) == []


def test_output_under_a_file_is_exit_2(capsys, tmp_path, models):
    (tmp_path / "f").write_text("")
    rc, _, err = run(capsys, "quantize", models["tiny"], "--ptq", "-o", tmp_path / "f" / "q.tflite")
    assert rc == 2 and "not a directory" in one_error_line(err)


def test_disk_full_while_writing_is_exit_2(capsys, tmp_path, monkeypatch, tiny_tflite):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    rc, _, err = run(capsys, "codegen", tiny_tflite, "-o", tmp_path / "gen")
    line = one_error_line(err)
    assert rc == 2 and "no space left on the device" in line
    assert list(tmp_path.iterdir()) == []  # no half directory, no temp files


def test_quantize_set_modes_and_rerun(capsys, tmp_path, models):
    old = os.umask(0o022)
    try:
        out = tmp_path / "q.tflite"
        set_ = [out, Path(f"{out}.report.json"), Path(f"{out}.md"), Path(f"{out}.sparsity.png")]
        rc, _, err = run(capsys, "quantize", models["tiny"], "--ptq", "--calibration-samples", "20", "-o", out)
        assert rc == 0, err
        assert all(p.exists() and p.stat().st_mode & 0o777 == 0o644 for p in set_)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in set_)  # no temp files
        assert f"# {out}" in set_[2].read_text()
        rc, _, err = run(capsys, "quantize", models["tiny"], "--ptq", "-o", out)
        assert rc == 2 and "already exists; pass --force" in one_error_line(err)
        out.unlink()  # as if killed between renames: secondaries without their primary
        rc, _, err = run(capsys, "quantize", models["tiny"], "--ptq", "--calibration-samples", "20", "-o", out)
        assert rc == 0, err
        assert all(p.exists() for p in set_)
    finally:
        os.umask(old)


def test_internal_errors_stay_exit_1(capsys, monkeypatch, tmp_path, models):
    from tinyml_prune.quantize import quantize_report

    monkeypatch.setattr(quantize_report, "quantize_with_report",
                        lambda *a, **k: (_ for _ in ()).throw(KeyError("layers")))
    rc, _, err = run(capsys, "quantize", models["tiny"], "--ptq", "-o", tmp_path / "q.tflite")
    assert rc == 1 and one_error_line(err).startswith("internal error: KeyError")
