"""Package, data, CLI skeleton and the built-in models."""
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tinyml_prune import data
from tinyml_prune.errors import DataError

from conftest import REPO


def run_cli(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "tinyml_prune.cli", *args], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_digits_split_is_fixed_and_stratified():
    a, b = data.load_digits(), data.load_digits()
    assert a.x_train.shape[1:] == (8, 8, 1) and a.x_train.dtype == np.float32
    assert np.array_equal(a.y_test, b.y_test) and np.array_equal(a.x_test, b.x_test)
    assert len(a.y_train) + len(a.y_test) == 1797
    # every class appears in the test split in proportion
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 17


def test_npz_roundtrip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "d.npz"
    np.savez(p, x_train=rng.random((10, 4, 4, 1)), y_train=np.arange(10) % 3,
             x_test=rng.random((5, 4, 4, 1)), y_test=np.eye(3)[np.arange(5) % 3])
    ds = data.load(str(p))
    assert ds.x_train.dtype == np.float32 and ds.y_test.tolist() == [0, 1, 2, 0, 1]
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 2)))
    with pytest.raises(DataError, match="missing arrays y_train"):
        data.load(str(tmp_path / "bad.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable"):
        data.load(str(tmp_path / "junk.npz"))
    with pytest.raises(DataError, match="unknown dataset"):
        data.load("cifar")


def test_every_command_has_help():
    from tinyml_prune.cli import COMMANDS

    top = run_cli("--help").stdout
    for name in COMMANDS:
        assert name in top
        out = run_cli(name, "--help").stdout
        assert "Usage:" in out and "--help" in out


def test_cli_bad_data_is_a_clean_error(tmp_path, digits_cnn_path):
    r = run_cli("quantize", str(digits_cnn_path), "--data", str(tmp_path / "none.npz"),
                "-o", str(tmp_path / "m.tflite"), check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "does not exist" in r.stderr


def test_refuses_to_overwrite(tmp_path, digits_cnn_path):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"user data")
    r = run_cli("quantize", str(digits_cnn_path), "-o", str(out), check=False)
    assert r.returncode == 2 and "--force" in r.stderr
    assert out.read_bytes() == b"user data"


@pytest.mark.parametrize("fixture,minimum", [("digits_cnn_path", 0.95), ("digits_resnet_path", 0.95)])
def test_builtin_models_reach_accuracy(request, digits, fixture, minimum):
    from tinyml_prune import models
    from tinyml_prune.modelio import load_model

    model = load_model(request.getfixturevalue(fixture))
    assert models.accuracy(model, digits.x_test, digits.y_test) >= minimum


def test_resnet_has_residual_add(digits_resnet_path):
    from tinyml_prune.modelio import load_model

    kinds = {type(l).__name__ for l in load_model(digits_resnet_path).layers}
    assert {"Add", "Conv2D", "BatchNormalization", "Dense"} <= kinds


def test_wheel_carries_firmware_templates_and_boards(tmp_path):
    """`pip install .` (not only editable) must ship the C sources, templates and board files."""
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path), str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("tinyml_prune-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert "codegen" not in tops and "boards" not in tops and "firmware" not in tops
    for folder, suffixes in (("tinyml_prune/firmware/", (".c", ".h")),
                             ("tinyml_prune/codegen/templates/", (".j2",)),
                             ("tinyml_prune/boards/", (".toml",))):
        inside = [n for n in names if n.startswith(folder)]
        for suf in suffixes:
            assert any(n.endswith(suf) for n in inside), f"no {suf} under {folder} in the wheel"
