"""QAT keeps the pruner's zeros and 2:4 groups exactly, in the converted .tflite."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conftest import fixture_path

from .prune_helpers import prune_2_4, prune_magnitude


def _pruned(path, how):
    from tinyml_prune.modelio import load_model

    m = load_model(path)
    how(m)
    return m


@pytest.fixture(scope="session")
def cnn_2_4(digits_cnn_path):
    return _pruned(digits_cnn_path, prune_2_4)


@pytest.fixture(scope="session")
def cnn_2_4_qat(cnn_2_4, digits):
    from tinyml_prune.quantize.quantize_report import quantize_with_report
    from tinyml_prune.quantize.qat import QATConfig

    return quantize_with_report(cnn_2_4, digits, QATConfig(epochs=1))


def test_digits_cnn_2_4_zeros_identical_in_tflite(cnn_2_4_qat):
    tfl, report = cnn_2_4_qat
    layers = {r["layer"]: r for r in report["layers"]}
    assert set(layers) == {"conv1", "dw2", "pw3", "fc"}
    for name in ("pw3", "fc"):  # conv1 has Cin=1: no 2:4 groups along the input axis
        r = layers[name]
        assert r["sparsity_float"] == 0.5 and r["sparsity_int8"] == 0.5
        assert r["zeros_identical"] and r["lost_zeros"] == 0 and r["extra_zeros"] == 0
        assert r["nm_float"] == "2:4" and r["nm_int8_intact"] is True


def test_dense_is_per_channel_after_qat(cnn_2_4_qat):
    from tinyml_prune.quantize.tflite_weights import read_weights

    tfl, _ = cnn_2_4_qat
    fc = [w for w in read_weights(tfl) if w.op == "FULLY_CONNECTED"]
    assert len(fc) == 1
    assert fc[0].values.shape == (10, 512)
    assert fc[0].scales.size == 10 and fc[0].quantized_dimension == 0
    # symmetric, narrow range, and each row really uses its own scale: max |code| is 127
    assert np.abs(fc[0].values.astype(int)).max(axis=1).tolist() == [127] * 10


def test_qat_int8_accuracy_close_to_float(cnn_2_4_qat):
    _, report = cnn_2_4_qat
    assert report["int8"] >= report["float"] - 0.01


def test_ptq_of_dense_model_loses_the_zeros(cnn_2_4, digits, digits_cnn_tflite):
    """The check is not vacuous: the unpruned model's int8 file does not have the 2:4 zeros."""
    from tinyml_prune.quantize.sparsity_check import check_sparsity

    rows = {r.layer: r for r in check_sparsity(cnn_2_4, digits_cnn_tflite.read_bytes())}
    assert rows["fc"].lost_zeros > 0 and not rows["fc"].zeros_identical
    assert rows["fc"].nm_int8_intact is False


def test_activation_ranges_seeded_from_calibration(digits_cnn_path, digits):
    """With no training the input range is exactly the data's [0, 1], not tfmot's [-6, 6]."""
    from tinyml_prune.modelio import load_model
    from tinyml_prune.quantize.ptq import make_interpreter
    from tinyml_prune.quantize.qat import QATConfig, qat

    r = qat(load_model(digits_cnn_path), digits, QATConfig(epochs=0, calibration_samples=100))
    interp = make_interpreter(r.tflite)
    scale, zp = interp.get_input_details()[0]["quantization"]
    assert interp.get_input_details()[0]["dtype"] == np.int8
    assert interp.get_output_details()[0]["dtype"] == np.int8
    assert scale == pytest.approx(1 / 255, rel=1e-6) and zp == -128


def _random_task(model, n=160, classes=True, seed=0):
    from tinyml_prune.data import Dataset

    rng = np.random.default_rng(seed)
    x = rng.random((n, *model.input_shape[1:]), dtype=np.float32)
    y = model.predict(x, verbose=0)
    y = y.argmax(-1) if classes else y
    k = n * 3 // 4
    return Dataset("random", x[:k], y[:k], x[k:], y[k:])


@pytest.mark.parametrize("name, classes", [("str_ww_ref_model.h5", True), ("ad01.h5", False)])
def test_separate_activation_layers_keep_2_4(name, classes):
    """Conv/Dense -> BN -> Activation('relu'): folded, fake-quantized, zeros kept."""
    from tinyml_prune.modelio import load_model
    from tinyml_prune.quantize.qat import QATConfig, qat
    from tinyml_prune.quantize.sparsity_check import check_sparsity

    model = load_model(fixture_path(name))
    prune_2_4(model)
    ds = _random_task(model, classes=classes)
    r = qat(model, ds, QATConfig(epochs=1, calibration_samples=64))
    assert any("activation" in line for line in r.fold_log.describe())
    rows = check_sparsity(model, r.tflite)
    pruned = [row for row in rows if row.op in ("CONV_2D", "FULLY_CONNECTED")]
    assert len(pruned) >= 5
    for row in pruned:
        assert row.sparsity_float == 0.5, row
        assert row.zeros_identical and row.nm_float == "2:4" and row.nm_int8_intact, row
        assert row.scales > 1 and row.quantized_dimension == 0, row  # per-channel, Dense included


def test_unstructured_80_percent_zeros_identical(digits_resnet_path, digits):
    from tinyml_prune.modelio import load_model
    from tinyml_prune.quantize.qat import QATConfig, qat
    from tinyml_prune.quantize.sparsity_check import check_sparsity

    model = load_model(digits_resnet_path)
    prune_magnitude(model, 0.8)
    r = qat(model, digits, QATConfig(epochs=0))
    rows = check_sparsity(model, r.tflite)
    assert len(rows) == 7  # six convs and the Dense
    for row in rows:
        assert row.zeros_identical, row
        assert abs(row.sparsity_int8 - 0.8) < 0.01, row
    # average pooling keeps its input scale: no requantizing QUANTIZE op for codegen to choke on
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(r.tflite, 0))
    codes = {max(c.builtinCode, c.deprecatedBuiltinCode) for c in m.operatorCodes}
    assert schema.BuiltinOperator.QUANTIZE not in codes and schema.BuiltinOperator.AVERAGE_POOL_2D in codes


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (6, 8), elements=st.floats(-1, 1, width=32)),
       arrays(np.bool_, (6, 8)))
def test_grid_values_keep_exactly_the_mask(kernel, keep):
    from tinyml_prune.quantize.qat_config import grid_values

    mask = keep.astype(np.float32)
    absmax = np.maximum(np.abs(kernel * mask).max(axis=0), 1e-8)
    q = grid_values(kernel, mask, absmax)
    assert np.array_equal(q != 0, keep)
    assert np.abs(q).max() <= 127
    assert np.array_equal(q, np.round(q))


@settings(max_examples=60, deadline=None)
@given(arrays(np.int8, (5, 16), elements=st.integers(-127, 127)))
def test_nm_pattern_is_the_tightest_that_holds(values):
    from tinyml_prune.quantize.sparsity_check import nm_pattern, satisfies_nm

    p = nm_pattern(values)
    if p is None:
        assert (values.reshape(-1, 4) != 0).all(axis=1).any() and (values.reshape(-1, 8) != 0).all(axis=1).any()
    else:
        n, m = p
        assert satisfies_nm(values, n, m)
        assert not satisfies_nm(values, n - 1, m) if n > 0 else True
