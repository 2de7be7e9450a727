"""The model zoo: standard architectures through the whole chain.

Each zoo model is built with seeded weights, converted to full-int8 once per run (shared
between xdist workers), compiled to C and compared byte for byte with TFLite's reference
kernels (BUILTIN_REF) on the host, under ASan/UBSan; a few also run on QEMU through the real
firmware. A model fails here as long as one of its operators has no emitter.

The full-size keras.applications networks (EfficientNetB0, ResNet50, DenseNet121: minutes of
conversion, megabytes of weights) run only with TINYML_ZOO_FULL=1; their smaller builds with the
same layer types run always.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import shared_artifact
from tinyml_prune import zoo

N_HOST = 4  # random inputs per model on the host
N_QEMU = 2
FULL = os.environ.get("TINYML_ZOO_FULL") == "1"
# keras.applications builds: 7-30 s of conversion each
SLOW = {"mobilenet", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_mini", "resnet_mini", "densenet_mini"}
QEMU_MODELS = ["mobilenet_v3_small", "unet", "two_in_two_out", "float_io", "conv1d_audio", "reshape_conv"]


def zoo_tflite(tmp_path_factory, name: str) -> bytes:
    """Zoo model ``name`` as int8 TFLite, converted once per test run."""
    def build(path):
        path.write_bytes(zoo.build_int8(name))

    return shared_artifact(tmp_path_factory, f"zoo-{name}.tflite", build).read_bytes()


def _param(name: str):
    entry = zoo.get(name)
    marks = []
    if entry.heavy:
        marks += [pytest.mark.slow,
                  pytest.mark.skipif(not FULL, reason="full-size network: set TINYML_ZOO_FULL=1 to run it")]
    elif name in SLOW:
        marks.append(pytest.mark.slow)
    return pytest.param(name, marks=marks, id=name)


def _inputs(tflite: bytes, n: int, seed: int) -> np.ndarray:
    from tinyml_prune.verify import model_io, random_inputs

    return random_inputs((model_io(tflite)["input_bytes"],), n, seed)


@pytest.mark.parametrize("name", [_param(n) for n in zoo.names()])
def test_zoo_model_is_bit_exact_on_host(tmp_path_factory, name):
    from tinyml_prune.verify import verify_host

    tflite = zoo_tflite(tmp_path_factory, name)
    r = verify_host(tflite, _inputs(tflite, N_HOST, seed=1), source=name, sanitize=not zoo.get(name).heavy)
    assert r.ok, f"{name}: {r.matched}/{r.n} inputs bit-exact; first difference: {r.mismatch}"


def test_registry_describes_every_model():
    assert len(zoo.REGISTRY) >= 19
    for name, entry in zoo.REGISTRY.items():
        assert entry.name == name and entry.description and entry.input_shapes
        assert all(len(s) >= 1 and all(d > 0 for d in s) for s in entry.input_shapes)
    with pytest.raises(KeyError, match="no zoo model 'nope'"):
        zoo.get("nope")
    assert set(zoo.names(heavy=False)) < set(zoo.names())


def test_build_and_convert_are_seeded():
    from tinyml_prune.kerasenv import tf

    entry = zoo.get("two_in_two_out")
    a, b = entry.build(seed=3), entry.build(seed=3)
    assert [tuple(t.shape[1:]) for t in a.inputs] == list(entry.input_shapes)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], entry.build(seed=4).get_weights()[0])
    rep = entry.representative(4, seed=3)
    assert [x.shape[1:] for x in rep] == list(entry.input_shapes)
    blob = zoo.convert_int8(a, rep)
    assert blob == zoo.convert_int8(b, entry.representative(4, seed=3))
    interp = tf.lite.Interpreter(model_content=blob)
    ins, outs = interp.get_input_details(), interp.get_output_details()
    assert len(ins) == 2 and len(outs) == 2
    assert all(d["dtype"] == np.int8 for d in ins + outs)
    with pytest.raises(ValueError, match="1 calibration arrays for a model with 2 inputs"):
        zoo.convert_int8(a, rep[0])


def test_float_io_keeps_float_boundary(tmp_path_factory):
    from tinyml_prune.kerasenv import tf
    from tinyml_prune.verify import model_io

    tflite = zoo_tflite(tmp_path_factory, "float_io")
    interp = tf.lite.Interpreter(model_content=tflite)
    assert interp.get_input_details()[0]["dtype"] == np.float32
    assert interp.get_output_details()[0]["dtype"] == np.float32
    assert model_io(tflite)["float_io"]  # the generator saw the QUANTIZE/DEQUANTIZE boundary


def _needs_toolchain():
    import shutil

    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make setup installs them)")


@pytest.mark.qemu
@pytest.mark.parametrize("name", [_param(n) for n in QEMU_MODELS])
def test_zoo_model_is_bit_exact_on_qemu_m4(tmp_path_factory, tmp_path, name):
    from tinyml_prune.boards import load, make_board
    from tinyml_prune.codegen import generate
    from tinyml_prune.harness.profile import ProfileConfig, profile

    _needs_toolchain()
    tflite = zoo_tflite(tmp_path_factory, name)
    root = tmp_path / name
    generate(tflite, root)
    (root / "model.tflite").write_bytes(tflite)
    board = make_board(load("qemu-m4"), exact=True)
    board.build(root)
    r = profile(root, board, ProfileConfig(n=N_QEMU, seed=2))
    assert r["bit_exact"] is True and r["n"] == N_QEMU, r.get("error") or r["mismatched_outputs"]
    assert r["latency"]["unit"] == "instructions" and r["latency"]["median"] > 0
