"""The two oracles (TFLite BUILTIN_REF, TensorFlow Lite Micro) and models TFLite rejects."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import fixture_path
from tinyml_prune.codegen import CodegenOptions, read_tflite
from tinyml_prune.errors import ModelError
from tinyml_prune.verify import random_inputs, reference_run, verify_host

from . import opmodels
from .tflbuild import ModelSpec, Op, T, build, options

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
pytest.importorskip("tflite_micro", reason="the tflite-micro package is part of the [dev] extra")


def test_tflm_rounding_equals_tflite_micro_on_ad01():
    """ad01 is fully connected: TFLM's double rounding differs from BUILTIN_REF's single rounding
    on some outputs; each generated rounding equals its own oracle, byte for byte."""
    model = fixture_path("ad01_int8.tflite").read_bytes()
    x = random_inputs((640,), 6, 0)
    tflm, _ = reference_run(model, x, oracle="tflm")
    ref, _ = reference_run(model, x)
    assert (tflm != ref).sum() > 0  # the oracles really differ here
    for oracle in ("tflm", "tflite"):
        result = verify_host(model, x, CodegenOptions(rounding=oracle), sanitize=False, oracle=oracle)
        assert result.ok and result.matched == 6, str(result.mismatch)


def test_tflm_oracle_on_multi_io_conv_model():
    from .test_model_io import two_in_two_out

    model = two_in_two_out(np.random.default_rng(9))
    result = verify_host(model, random_inputs((144,), 8, 3), CodegenOptions(rounding="tflm"), sanitize=False,
                         oracle="tflm")
    assert result.ok, str(result.mismatch)


def _bad_bias_axis_model() -> bytes:
    """A conv whose 1-D per-channel bias says quantized_dimension 3, as older converters wrote."""
    rng = np.random.default_rng(4)
    spec = ModelSpec()
    inp = spec.add(T((1, 4, 4, 2), scale=[0.05], zero_point=[2]))
    filt = spec.add(T((3, 1, 1, 2), scale=[0.01, 0.02, 0.03], zero_point=[0, 0, 0],
                      data=rng.integers(-127, 128, (3, 1, 1, 2)).astype(np.int8)))
    bias = spec.add(T((3,), "int32", scale=[0.0005, 0.001, 0.0015], zero_point=[0, 0, 0], axis=3,
                      data=np.array([10, -20, 30], np.int32)))
    out = spec.add(T((1, 4, 4, 3), scale=[0.03], zero_point=[-1]))
    spec.ops.append(Op("CONV_2D", [inp, filt, bias], [out],
                       options("Conv2DOptions", padding=1, strideH=1, strideW=1, dilationHFactor=1,
                               dilationWFactor=1, fusedActivationFunction=0), "Conv2DOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def test_model_tflite_rejects_for_a_known_converter_defect_is_verified_on_a_corrected_copy():
    model = _bad_bias_axis_model()
    with pytest.raises(ModelError, match="TFLite's interpreter rejects this model"):
        reference_run(model, random_inputs((1, 4, 4, 2), 1, 0))
    result = verify_host(model, random_inputs((1, 4, 4, 2), 10, 0), sanitize=False)
    assert result.ok
    assert len(result.notes) == 1 and "quantized_dimension 3 -> 0" in result.notes[0]


def test_verify_cli_reports_the_correction_and_the_tflm_oracle(tmp_path, capsys):
    from tinyml_prune.cli import main

    path = tmp_path / "old.tflite"
    path.write_bytes(_bad_bias_axis_model())
    assert main(["verify", str(path), "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert "note: the oracle rejects the model as it is" in out and "5/5 outputs bit-exact" in out
    ad01 = str(fixture_path("ad01_int8.tflite"))
    assert main(["verify", ad01, "-n", "3", "--oracle", "tflm"]) == 0
    assert "3/3 outputs bit-exact with TensorFlow Lite Micro" in capsys.readouterr().out
    assert main(["verify", ad01, "-n", "3", "--oracle", "tflm", "--rounding", "tflite"]) == 1
    assert "differ" in capsys.readouterr().err
