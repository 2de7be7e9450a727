"""The channel pruner's masking -> PTQ -> --format slim equals its physical slimming -> PTQ ->
dense in bytes and MACs, layer by layer, and is bit-exact with TFLite on the test images."""
from __future__ import annotations

import warnings

import pytest

from conftest import shared_artifact
from tinyml_prune.codegen import CodegenOptions, build_program, read_tflite

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")


def _pair(keras_path):
    """(masked, slimmed) int8 models of one 50 % L1 channel plan."""

    def build(path):
        import numpy as np

        from tinyml_prune import data
        from tinyml_prune.modelio import load_model
        from tinyml_prune.pruning.channel import ChannelConfig, mask_model, plan_channels, slim_model
        from tinyml_prune.quantize import convert_ptq

        ds = data.load_digits()
        model = load_model(keras_path)
        plan = plan_channels(model, ChannelConfig(sparsity=0.5, criterion="l1"))
        calib = ds.calibration(200)
        masked = convert_ptq(mask_model(model, plan.cgraph, plan.keep), calib)
        slimmed = convert_ptq(slim_model(model, plan.cgraph, plan.keep), calib)
        with open(path, "wb") as f:
            np.savez(f, masked=np.frombuffer(masked, np.uint8), slimmed=np.frombuffer(slimmed, np.uint8))

    return build


@pytest.fixture(scope="module", params=["cnn", "resnet"])
def masked_pair(request, tmp_path_factory):
    import numpy as np

    keras_path = request.getfixturevalue(f"digits_{request.param}_path")
    path = shared_artifact(tmp_path_factory, f"slim_digits_{request.param}_masked50.npz", _pair(keras_path))
    with np.load(path) as z:
        return request.param, z["masked"].tobytes(), z["slimmed"].tobytes()


def _shapes(program):
    return [(e.op.opcode, list(program.graph.tensors[e.op.outputs[0]].shape)) for e in program.emitters]


def test_slim_of_the_masked_model_costs_what_the_slimmed_model_costs(masked_pair):
    arch, masked, slimmed = masked_pair
    slim = build_program(read_tflite(masked), CodegenOptions(format="slim"))
    phys = build_program(read_tflite(slimmed), CodegenOptions(format="dense"))
    dense = build_program(read_tflite(masked), CodegenOptions(format="dense"))
    assert slim.slim.kept == [], slim.slim.kept
    assert _shapes(slim) == _shapes(phys)
    assert [r["weight_bytes"] for r in slim.layer_table()] == [r["weight_bytes"] for r in phys.layer_table()]
    assert (slim.weight_bytes, slim.param_bytes, slim.macs) == (phys.weight_bytes, phys.param_bytes, phys.macs)
    t = slim.slim.totals
    assert (t["weights_before"] + t["bias_before"], t["requant_before"], t["macs_before"]) == \
        (dense.weight_bytes, dense.param_bytes - _tables(dense), dense.macs)
    assert t["macs_after"] == phys.macs and t["macs_saved"] > 0.4 * t["macs_before"]


def _tables(program) -> int:
    """Softmax tables: params that are not requantization."""
    return sum(a.nbytes for e in program.emitters for a in e.arrays if a.name.endswith("exp_table"))


def test_slim_of_the_masked_model_is_bit_exact(masked_pair, digits):
    from tinyml_prune.verify import verify_host

    arch, masked, _ = masked_pair
    g = read_tflite(masked)
    x = _quantized(digits.x_test[:40], g)
    r = verify_host(masked, x, CodegenOptions(format="slim"), source=f"masked digits {arch}")
    assert r.ok and r.matched == len(x), r.mismatch


def _quantized(x, graph):
    import numpy as np

    s, zp = graph.input.scale, graph.input.zero_point
    return np.clip(np.round(x.reshape(-1, *graph.input.shape[1:]) / s) + zp, -128, 127).astype(np.int8)
