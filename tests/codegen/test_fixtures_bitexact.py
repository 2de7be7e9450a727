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
