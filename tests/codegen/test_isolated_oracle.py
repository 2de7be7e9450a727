"""The oracle in a child process: same results and errors as in process, and a clean error when
TFLite's interpreter aborts on a model (which in process would end the test run itself)."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from tinyml_prune.codegen import read_tflite
from tinyml_prune.errors import DataError, ModelError
from tinyml_prune.verify import OracleCrashed, random_inputs, reference_run, verify_host

from . import opmodels
from .tflbuild import ModelSpec, Op, T, build, options

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")


def tiny_scale_softmax() -> bytes:
    """SOFTMAX on logits with an input scale of 8e-9 (an untrained deep net whose logits are all
    zero): TFLite's reference SOFTMAX aborts the process while preparing it."""
    spec = ModelSpec()
    inp = spec.add(T((1, 10), scale=[8e-9], zero_point=[0]))
    out = spec.add(T((1, 10), scale=[1.0 / 256], zero_point=[-128]))
    spec.ops.append(Op("SOFTMAX", [inp], [out], options("SoftmaxOptions", beta=1.0), "SoftmaxOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def test_the_tiny_scale_softmax_really_aborts_the_interpreter():
    """The premise: run in process, the interpreter takes its process down with SIGABRT."""
    code = ("import sys, numpy as np; from tinyml_prune.verify import reference_run; "
            "reference_run(sys.stdin.buffer.read(), np.zeros((1, 10), np.int8))")
    proc = subprocess.run([sys.executable, "-c", code], input=tiny_scale_softmax(), capture_output=True)
    assert proc.returncode == -6, proc.stderr[-500:]


@pytest.mark.parametrize("oracle", ["tflite", "tflm"])
def test_isolated_oracle_turns_an_abort_into_one_clean_error(oracle):
    if oracle == "tflm":
        pytest.importorskip("tflite_micro", reason="the tflite-micro package is part of the [dev] extra")
    with pytest.raises(OracleCrashed) as info:
        reference_run(tiny_scale_softmax(), np.zeros((2, 10), np.int8), oracle=oracle, isolate=True)
    msg = str(info.value)
    assert isinstance(info.value, ModelError) and "\n" not in msg
    assert "crashed on this model (SIGABRT) while preparing the model" in msg


def test_isolated_oracle_gives_identical_outputs_and_traces():
    rng = np.random.default_rng(3)
    model = opmodels.residual_add(rng, 5, 4, 3, "RELU")
    g = read_tflite(model)
    x = random_inputs(g.input.shape, 7, 1)
    traced = [t for op in g.operators for t in op.outputs]
    here, here_traces = reference_run(model, x, traced)
    child, child_traces = reference_run(model, x, traced, isolate=True)
    assert child.dtype == here.dtype and np.array_equal(child, here)
    assert len(child_traces) == len(here_traces) == 7
    for a_row, b_row in zip(here_traces, child_traces):
        assert len(a_row) == len(b_row) == len(traced)
        for a, b in zip(a_row, b_row):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    empty, no_traces = reference_run(model, x[:0], isolate=True)
    assert empty.shape == (0, here.shape[1]) and no_traces == []


def test_isolated_oracle_raises_the_same_errors():
    model = opmodels.residual_add(np.random.default_rng(3), 5, 4, 3, "NONE")
    wrong = np.zeros((1, 7), np.int8)
    with pytest.raises(DataError) as here:
        reference_run(model, wrong)
    with pytest.raises(DataError) as child:
        reference_run(model, wrong, isolate=True)
    assert type(child.value) is type(here.value) and str(child.value) == str(here.value)

    from .test_oracles import _bad_bias_axis_model  # the interpreter rejects it: a ModelError

    x = random_inputs((1, 4, 4, 2), 1, 0)
    with pytest.raises(ModelError) as here:
        reference_run(_bad_bias_axis_model(), x)
    with pytest.raises(ModelError) as child:
        reference_run(_bad_bias_axis_model(), x, isolate=True)
    assert type(child.value) is type(here.value) and str(child.value) == str(here.value)
    assert "TFLite's interpreter rejects this model" in str(child.value)
    with pytest.raises(ValueError, match="oracle must be one of"):
        reference_run(model, x, oracle="nope", isolate=True)


def test_verify_host_isolated_matches_and_refuses_the_crashing_model(tmp_path):
    model = opmodels.residual_add(np.random.default_rng(5), 4, 4, 2, "RELU6")
    x = random_inputs(read_tflite(model).input.shape, 6, 2)
    assert verify_host(model, x, sanitize=False, isolate=True) == verify_host(model, x, sanitize=False)
    with pytest.raises(OracleCrashed, match=r"TFLite's interpreter crashed on this model \(SIGABRT\)"):
        verify_host(tiny_scale_softmax(), np.zeros((2, 1, 10), np.int8), sanitize=False, isolate=True)


def test_verify_cli_exits_2_with_one_line_when_the_interpreter_aborts(tmp_path):
    path = tmp_path / "tiny_softmax.tflite"
    path.write_bytes(tiny_scale_softmax())
    proc = subprocess.run([sys.executable, "-m", "tinyml_prune.cli", "verify", str(path), "-n", "3"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: TFLite's interpreter crashed on this model (SIGABRT)")
