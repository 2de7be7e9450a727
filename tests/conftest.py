"""Shared, expensive fixtures.

Training and converting a model costs seconds of TensorFlow time, so the digits models are
built once per test run and shared between pytest-xdist workers through a locked on-disk
cache (the first worker builds, the others wait and read).
"""
from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures" / "mlperf_tiny"


def fixture_path(name: str) -> Path:
    """A third-party model from ../shared/fixtures, or skip the test with the reason."""
    p = FIXTURES / name
    if not p.exists():
        pytest.skip(f"fixture {p} is absent (../shared/fixtures/mlperf_tiny is not beside the checkout)")
    return p


def _cache_root(tmp_path_factory) -> Path:
    # With xdist every worker has its own basetemp; their parent is shared by the run.
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    d = root / "tinyml-shared"
    d.mkdir(exist_ok=True)
    return d


def shared_artifact(tmp_path_factory, name: str, build) -> Path:
    """Path of artifact ``name``, built once by ``build(path)`` under a file lock."""
    root = _cache_root(tmp_path_factory)
    path = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            tmp = root / f".tmp-{name}"
            build(tmp)
            os.replace(tmp, path)
    return path


@pytest.fixture(scope="session")
def digits():
    from tinyml_prune import data

    return data.load_digits()


def _trained(arch):
    def build(path):
        from tinyml_prune import data, models

        ds = data.load_digits()
        model = models.train(arch, ds, models.TrainConfig(epochs=40))
        model.save(str(path) + ".keras")
        os.replace(str(path) + ".keras", path)

    return build


def _ptq(keras_path):
    def build(path):
        from tinyml_prune import data
        from tinyml_prune.modelio import load_model
        from tinyml_prune.quantize import convert_ptq

        ds = data.load_digits()
        path.write_bytes(convert_ptq(load_model(keras_path), ds.calibration(200)))

    return build


@pytest.fixture(scope="session")
def digits_cnn_path(tmp_path_factory) -> Path:
    """A trained digits CNN (.keras)."""
    return shared_artifact(tmp_path_factory, "digits_cnn.keras", _trained("cnn"))


@pytest.fixture(scope="session")
def digits_resnet_path(tmp_path_factory) -> Path:
    """A trained ResNet-style digits model (.keras)."""
    return shared_artifact(tmp_path_factory, "digits_resnet.keras", _trained("resnet"))


@pytest.fixture(scope="session")
def digits_cnn_tflite(tmp_path_factory, digits_cnn_path) -> Path:
    """The digits CNN, int8 by post-training quantization."""
    return shared_artifact(tmp_path_factory, "digits_cnn.tflite", _ptq(digits_cnn_path))


@pytest.fixture(scope="session")
def digits_resnet_tflite(tmp_path_factory, digits_resnet_path) -> Path:
    return shared_artifact(tmp_path_factory, "digits_resnet.tflite", _ptq(digits_resnet_path))


def pytest_addoption(parser):
    parser.addoption("--board", default=None,
                     help="a real board (see `tinyml boards`) attached to this machine: runs the "
                          "requires_hardware tests on it")
    parser.addoption("--port", default=None, help="serial port of the --board (default: found by USB id)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--board"):
        return
    skip = pytest.mark.skip(reason="needs a real board: pass --board NAME (and --port if needed)")
    for item in items:
        if "requires_hardware" in item.keywords:
            item.add_marker(skip)


# Under CI a test may not skip for want of a tool, a package or a fixture: a broken `make setup`
# or a missing ../shared would otherwise pass green. Hardware and GPU tiers may still skip.
_MISSING = re.compile(r"absent|not installed|needs |not found|could not import|No module named|\[dev\] extra")


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not (rep.skipped and _under_ci()) or {"requires_hardware", "requires_gpu"} & set(item.keywords):
        return
    reason = rep.longrepr[-1] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
    if _MISSING.search(str(reason)):
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI, where every tool, package and fixture must be present: {reason}"
