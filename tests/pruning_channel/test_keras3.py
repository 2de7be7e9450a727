"""Keras 3 .keras archives convert to equivalent tf_keras models, or are refused by name."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from tinyml_prune.errors import ModelError
from tinyml_prune.kerasenv import keras as tf_keras
from tinyml_prune.keras3 import convert_keras3
from tinyml_prune.modelio import load_model


def _keras3():
    k = pytest.importorskip("keras")
    if not k.__version__.startswith("3"):
        pytest.skip(f"keras {k.__version__} is not Keras 3")
    return k


def _functional(k):
    L = k.layers
    x = inp = k.Input((8, 8, 2), name="image")
    x = L.Conv2D(4, 3, padding="same", name="c1")(x)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    y = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)
    y = L.Conv2D(4, 1, activation="relu", name="pw")(y)
    x = L.Add(name="add")([x, y])
    x = L.Concatenate(name="cat")([x, L.Conv2D(3, 1, name="side")(x)])
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(5, name="hidden")(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.Activation("relu", name="act")(x)
    x = L.Dropout(0.2, name="drop")(x)
    x = L.Dense(3, activation="softmax", name="out")(x)
    m = k.Model(inp, x, name="k3net")
    rng = np.random.default_rng(1)
    for layer in m.layers:  # non-trivial BN statistics
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(.5, 1.5, n), rng.normal(0, .3, n), rng.normal(0, .3, n),
                               rng.uniform(.5, 2, n)])
    return m


@pytest.fixture(scope="module")
def k3_archive(tmp_path_factory):
    k = _keras3()
    m = _functional(k)
    path = tmp_path_factory.mktemp("k3") / "net.keras"
    m.save(path)
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 2)).astype(np.float32)
    return path, x, np.asarray(m(x, training=False))


def test_functional_archive_converts_to_equal_tf_keras_model(k3_archive):
    path, x, want = k3_archive
    conv = convert_keras3(path)
    assert conv.checked and conv.max_abs_diff < 1e-5
    model = conv.model
    assert type(model).__module__.startswith("tf_keras.")
    assert [l.name for l in model.layers][:3] == ["image", "c1", "bn1"]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_conversion_does_not_need_keras3_to_be_right(k3_archive):
    path, x, want = k3_archive
    conv = convert_keras3(path, check=False)
    assert not conv.checked and conv.max_abs_diff is None
    np.testing.assert_allclose(conv.model(x).numpy(), want, rtol=1e-5, atol=1e-6)


def test_modelio_falls_back_to_the_converter(k3_archive):
    path, x, want = k3_archive
    model = load_model(path)
    assert isinstance(model, tf_keras.Model)
    np.testing.assert_allclose(model(x).numpy(), want, rtol=1e-5, atol=1e-6)


def test_sequential_archive(tmp_path):
    k = _keras3()
    L = k.layers
    m = k.Sequential([k.Input((6,)), L.Dense(4, activation="relu"), L.Dense(4), L.Dense(2)])
    m.save(tmp_path / "seq.keras")
    x = np.random.default_rng(2).normal(size=(3, 6)).astype(np.float32)
    got = convert_keras3(tmp_path / "seq.keras").model(x).numpy()
    np.testing.assert_allclose(got, np.asarray(m(x)), rtol=1e-5, atol=1e-6)


def test_converted_model_can_be_channel_pruned(k3_archive):
    from tinyml_prune.pruning.channel import ChannelConfig, mask_channels, plan_channels, slim_model

    path, x, _ = k3_archive
    model = convert_keras3(path).model
    plan = plan_channels(model, ChannelConfig(sparsity=0.5))
    slim = slim_model(model, plan.cgraph, plan.keep)
    assert slim.get_layer("c1").filters == 2 and slim.get_layer("hidden").units == 3
    np.testing.assert_allclose(slim(x).numpy(), mask_channels(model, plan)(x).numpy(), rtol=1e-5, atol=1e-6)


def _refused(tmp_path, model, match):
    path = tmp_path / "bad.keras"
    model.save(path)
    with pytest.raises(ModelError, match=match):
        convert_keras3(path)


def test_refuses_lambda_layer_by_name(tmp_path):
    k = _keras3()
    inp = k.Input((4,))
    out = k.layers.Lambda(lambda t: t * 2, name="double")(k.layers.Dense(3, name="d")(inp))
    _refused(tmp_path, k.Model(inp, out), r"layer 'double' \(Lambda\): a Lambda layer holds Python code")


def test_refuses_layer_tf_keras_lacks(tmp_path):
    k = _keras3()
    inp = k.Input((4,))
    out = k.layers.RMSNormalization(name="rms")(k.layers.Dense(3)(inp))
    _refused(tmp_path, k.Model(inp, out), r"layer 'rms': tf_keras has no layer class RMSNormalization")


def test_refuses_lora(tmp_path):
    k = _keras3()
    inp = k.Input((4,))
    dense = k.layers.Dense(3, name="adapted")
    out = dense(inp)
    dense.enable_lora(2)
    _refused(tmp_path, k.Model(inp, out), r"layer 'adapted' \(Dense\): Keras 3 option lora_rank=2")


def test_refuses_nested_model(tmp_path):
    k = _keras3()
    inner = k.Sequential([k.Input((4,)), k.layers.Dense(3)], name="inner")
    inp = k.Input((4,))
    _refused(tmp_path, k.Model(inp, inner(inp)), r"layer 'inner' is a nested Sequential model")


def test_not_an_archive(tmp_path):
    p = tmp_path / "junk.keras"
    p.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a zip archive"):
        convert_keras3(p)


def _hand_built_archive(path, w1, b1, w2, b2):
    """A minimal Keras-3-format archive written without Keras: Input -> Dense(relu) -> Dense."""
    import h5py

    def tensor(name):
        return {"class_name": "__keras_tensor__", "config": {"shape": [None, 3], "dtype": "float32",
                                                             "keras_history": [name, 0, 0]}}

    def dense(name, units, act, src):
        return {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "name": name,
                "config": {"name": name, "trainable": True, "units": units, "activation": act,
                           "use_bias": True, "lora_rank": None,
                           "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                     "config": {"name": "float32"}, "registered_name": None}},
                "inbound_nodes": [{"args": [tensor(src)], "kwargs": {}}]}

    config = {"module": "keras.src.models.functional", "class_name": "Functional", "config": {
        "name": "hand", "trainable": True,
        "layers": [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                    "name": "x", "config": {"batch_shape": [None, 3], "dtype": "float32", "sparse": False,
                                            "name": "x"}, "inbound_nodes": []},
                   dense("first", 4, "relu", "x"), dense("second", 2, "linear", "first")],
        "input_layers": [["x", 0, 0]], "output_layers": [["second", 0, 0]]}}
    blob = io.BytesIO()
    with h5py.File(blob, "w") as f:
        f.create_group("layers/input_layer/vars")
        for slot, arrays in (("dense", (w1, b1)), ("dense_1", (w2, b2))):
            g = f.create_group(f"layers/{slot}/vars")
            for i, a in enumerate(arrays):
                g[str(i)] = a
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", blob.getvalue())


def test_hand_built_archive_without_keras3(tmp_path):
    rng = np.random.default_rng(3)
    w1, b1 = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    w2, b2 = rng.normal(size=(4, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    path = tmp_path / "hand.keras"
    _hand_built_archive(path, w1, b1, w2, b2)
    model = convert_keras3(path, check=False).model
    x = rng.normal(size=(6, 3)).astype(np.float32)
    want = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    np.testing.assert_allclose(model(x).numpy(), want, rtol=1e-5, atol=1e-5)
    assert [l.name for l in model.layers] == ["x", "first", "second"]
