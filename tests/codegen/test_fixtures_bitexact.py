"""Whole models, compiled with ASan + UBSan, bit-exact with TFLite on >= 50 inputs each."""
from __future__ import annotations

import warnings

import pytest

from conftest import fixture_path
from tinyml_prune.codegen import read_tflite
from tinyml_prune.verify import random_inputs, verify_host

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")

N = 50


def _check(model: bytes, seed: int = 0):
    g = read_tflite(model)
    result = verify_host(model, random_inputs(g.input.shape, N, seed))
    assert result.ok, str(result.mismatch)
    assert (result.n, result.matched, result.mismatched_bytes) == (N, N, 0)


@pytest.mark.parametrize("name", ["kws_ref_model.tflite", "ad01_int8.tflite", "str_ww_ref_model.tflite"])
def test_mlperf_tiny_fixture(name):
    _check(fixture_path(name).read_bytes())


def test_digits_cnn(digits_cnn_tflite, digits):
    # Real inputs too, not only random bytes: the quantized test images.
    from tinyml_prune.verify import load_inputs  # noqa: F401  (same path the CLI's --inputs takes)
    import numpy as np

    model = digits_cnn_tflite.read_bytes()
    g = read_tflite(model)
    x = digits.x_test[:N]
    q = np.clip(np.round(x / g.input.scale) + g.input.zero_point, -128, 127).astype(np.int8)
    result = verify_host(model, q.reshape(N, *g.input.shape))
    assert result.ok, str(result.mismatch)
    assert result.matched == N


def test_digits_resnet(digits_resnet_tflite):
    model = digits_resnet_tflite.read_bytes()
    assert "ADD" in {op.opcode for op in read_tflite(model).operators}
    _check(model, seed=1)


def test_tflm_rounding_differs_only_where_expected():
    """--rounding tflm changes FULLY_CONNECTED results on ad01 (FACTS: 114 of 640 bytes per
    input differ between TFLM and BUILTIN_REF), and the mismatch is located in an FC layer."""
    from tinyml_prune.codegen import CodegenOptions

    model = fixture_path("ad01_int8.tflite").read_bytes()
    g = read_tflite(model)
    result = verify_host(model, random_inputs(g.input.shape, 5, 0), CodegenOptions(rounding="tflm"), sanitize=False)
    assert not result.ok
    assert result.mismatch.opcode == "FULLY_CONNECTED"
    assert abs(result.mismatch.expected - result.mismatch.got) == 1


def test_unseen_keras_model_with_every_op(tmp_path):
    """A converter-made model the generator has never seen: RELU6, depth multiplier 2,
    both pools, a residual ADD, per-channel Dense, softmax."""
    import numpy as np

    from tinyml_prune.kerasenv import keras
    from tinyml_prune.quantize import convert_ptq

    keras.utils.set_random_seed(5)
    L = keras.layers
    x_in = keras.Input((12, 10, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu6")(x_in)  # (TFLite lowers Keras dilation to SPACE_TO_BATCH)
    y = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", activation="relu")(x)
    y = L.MaxPooling2D(2, padding="same")(y)
    z = L.Conv2D(16, 1)(y)
    y = L.Add()([y, z])
    y = L.AveragePooling2D((3, 2), strides=(1, 2), padding="valid")(y)
    y = L.Flatten()(y)
    out = L.Dense(7, activation="softmax")(y)
    model = keras.Model(x_in, out)
    calib = np.random.default_rng(0).normal(size=(32, 12, 10, 3)).astype(np.float32)
    tflite = convert_ptq(model, calib)
    ops = {op.opcode for op in read_tflite(tflite).operators}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD", "FULLY_CONNECTED",
            "SOFTMAX"} <= ops
    _check(tflite, seed=2)
