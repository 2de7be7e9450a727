"""--format slim on conv -> depthwise -> conv (+ residual ADD) -> pool -> reshape -> FC chains
with random all-zero channels: every layer bit-exact with TFLite, bytes and MACs exactly those
of the model that never had the channels, and the channels that cannot go reported."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.tflbuild import ModelSpec, Op, T, build, options
from tinyml_prune.codegen import CodegenOptions, build_program, read_tflite

from .chain import Chain
from .helpers import assert_layers_bit_exact

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")

SWEEP = settings(max_examples=10, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def chains(draw):
    k1, kd = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad1, pad_dw = draw(st.sampled_from(["SAME", "VALID"])), draw(st.sampled_from(["SAME", "VALID"]))
    shrink = (k1 - 1) * (pad1 == "VALID") + (kd - 1) * (pad_dw == "VALID")
    h, w = draw(st.integers(2 + shrink, 6 + shrink)), draw(st.integers(2 + shrink, 6 + shrink))
    ch = Chain(np.random.default_rng(draw(st.integers(0, 2**16))), h=h, w=w, cin=draw(st.integers(1, 3)),
               c1=draw(st.integers(2, 6)), c2=draw(st.integers(2, 5)), k1=k1, pad1=pad1, kd=kd, pad_dw=pad_dw,
               residual=draw(st.booleans()), pool=draw(st.sampled_from(["MAX_POOL_2D", "AVERAGE_POOL_2D"])),
               act=draw(st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])))
    # strict subsets, so every tensor keeps a channel
    d1 = draw(st.sets(st.integers(0, ch.c1 - 1), max_size=ch.c1 - 1))
    d2 = draw(st.sets(st.integers(0, ch.c2 - 1), max_size=ch.c2 - 1))
    return ch, sorted(d1), sorted(d2)


def _masked(ch: Chain, d1, d2, zero_bias=True) -> bytes:
    zero = {"conv1": d1, "pw": d2, **({"skip": d2} if ch.residual else {})}
    return ch.tflite(zero=zero, zero_bias=zero_bias)


@SWEEP
@given(chains())
def test_masked_chain_equals_the_physically_slimmed_one(case):
    """Masked as the channel pruner masks (weights and biases of the whole group): every
    zeroed channel goes, and the slimmed program is the physically slimmed model's, array
    for array; the C is bit-exact with TFLite on every layer."""
    ch, d1, d2 = case
    masked = _masked(ch, d1, d2)
    physical = ch.tflite(drop={"c1": d1, "c2": d2})
    res = assert_layers_bit_exact(masked)
    slim, phys = res.program, build_program(read_tflite(physical), CodegenOptions(format="dense"))
    assert slim.slim.kept == []
    assert (slim.weight_bytes, slim.param_bytes, slim.macs) == (phys.weight_bytes, phys.param_bytes, phys.macs)
    for a, b in zip(slim.emitters, phys.emitters):
        assert [(x.name, x.values.tolist()) for x in a.arrays] == [(x.name, x.values.tolist()) for x in b.arrays]
    t = res.manifest["slim"]["totals"]
    dense = build_program(read_tflite(masked), CodegenOptions(format="dense"))
    assert t["weights_before"] + t["bias_before"] == dense.weight_bytes
    assert t["requant_before"] == dense.param_bytes and t["macs_before"] == dense.macs
    assert t["weights_after"] + t["bias_after"] == phys.weight_bytes
    assert dense.weight_bytes - slim.weight_bytes == t["weights_saved"] + t["bias_saved"]
    removed = {l["operator"]: l["removed_out_channels"] for l in res.manifest["slim"]["layers"]}
    assert removed.get(0, []) == d1 and removed.get(1, []) == d1 and removed.get(2, []) == d2


@SWEEP
@given(chains())
def test_zero_weights_with_live_biases_stay_bit_exact(case):
    """Only the weights zeroed (a channel-pruned model converted without slimming): channels
    are constants other than the zero point; whatever goes or stays, every layer matches."""
    ch, d1, d2 = case
    res = assert_layers_bit_exact(_masked(ch, d1, d2, zero_bias=False))
    s = res.program.slim
    zero_rows = len(d1) + len(d2) * (2 if ch.residual else 1)
    dropped = sum(len(l["removed_out_channels"]) for l in s.layers if l["op"] == "CONV_2D")
    assert dropped + len(s.kept) == zero_rows
    assert all(k["reason"] for k in s.kept)


def _two_convs(padding: str, consumer_bias: int | None = None) -> bytes:
    """CONV 1x1 (channel 1 all-zero weights, bias 500: a constant above the zero point)
    -> CONV 3x3 ``padding`` -> output."""
    rng = np.random.default_rng(7)
    spec = ModelSpec()
    x = spec.add(T((1, 5, 5, 2), scale=[0.02], zero_point=[-3]))
    w1 = rng.integers(-127, 128, (3, 1, 1, 2)).astype(np.int8)
    w1[1] = 0
    f1 = spec.add(T(w1.shape, scale=[0.01] * 3, zero_point=[0] * 3, data=w1))
    b1 = spec.add(T((3,), "int32", scale=[0.0002] * 3, zero_point=[0] * 3, data=np.array([100, 500, -40], np.int32)))
    y = spec.add(T((1, 5, 5, 3), scale=[0.05], zero_point=[-10]))
    conv = dict(strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=0)
    spec.ops.append(Op("CONV_2D", [x, f1, b1], [y], options("Conv2DOptions", padding=1, **conv), "Conv2DOptions"))
    w2 = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    if consumer_bias is not None:
        w2[:, :, :, 1] = 127
    f2 = spec.add(T(w2.shape, scale=[0.01] * 4, zero_point=[0] * 4, data=w2))
    bias2 = np.full(4, 0 if consumer_bias is None else consumer_bias, np.int32)
    b2 = spec.add(T((4,), "int32", scale=[0.0005] * 4, zero_point=[0] * 4, data=bias2))
    oh = 5 if padding == "SAME" else 3
    z = spec.add(T((1, oh, oh, 4), scale=[0.3], zero_point=[5]))
    spec.ops.append(Op("CONV_2D", [y, f2, b2], [z], options("Conv2DOptions", padding=0 if padding == "SAME" else 1,
                                                            **conv), "Conv2DOptions"))
    spec.inputs, spec.outputs = [x], [z]
    return build(spec)


def test_padded_consumer_keeps_a_nonzero_point_constant_and_says_why():
    res = assert_layers_bit_exact(_two_convs("SAME"))
    s = res.program.slim
    assert s.layers == []
    (k,) = s.kept
    assert (k["operator"], k["channel"]) == (0, 1)
    assert "operator 1 (CONV_2D) pads its input and the channel's constant value" in k["reason"]
    assert "differs from the zero point -10" in k["reason"]


def test_valid_consumer_folds_the_constant_into_its_bias():
    res = assert_layers_bit_exact(_two_convs("VALID"))
    layers = {l["operator"]: l for l in res.program.slim.layers}
    assert layers[0]["removed_out_channels"] == [1] and layers[1]["removed_in_channels"] == [1]
    assert layers[1]["bias_folded"] and res.program.slim.kept == []
    assert res.program.slim.totals["bytes_saved"] == 2 + 4 + 8 + 9 * 4  # filter row, bias, requant, 3x3 slice


def test_bias_overflow_keeps_the_channel():
    program = build_program(read_tflite(_two_convs("VALID", consumer_bias=2**31 - 100)), CodegenOptions(format="slim"))
    (k,) = program.slim.kept
    assert "bias gives" in k["reason"] and "overflows int32" in k["reason"]


def test_one_zero_residual_branch_and_the_model_output_are_kept_with_reasons():
    ch = Chain(np.random.default_rng(3), residual=True)
    t = ch.tflite(zero={"pw": [1], "fc": [0]}, zero_bias=True)
    res = assert_layers_bit_exact(t)
    reasons = {(k["operator"], k["channel"]): k["reason"] for k in res.program.slim.kept}
    assert "tied (by depthwise/pool/ADD/reshape) to operator 3 (CONV_2D) output channel 1" in reasons[(2, 1)]
    fc = next(e.op.index for e in res.program.emitters if e.op.opcode == "FULLY_CONNECTED")
    assert "model output" in reasons[(fc, 0)]
    assert res.program.slim.layers == []


@pytest.mark.parametrize("fmt", ["auto"])
def test_auto_slims_before_choosing_formats(fmt):
    ch = Chain(np.random.default_rng(5))
    masked = _masked(ch, [0, 2], [1])
    res = assert_layers_bit_exact(masked, fmt=fmt)
    assert res.manifest["slim"]["totals"]["macs_saved"] > 0
    assert res.program.graph.tensors[res.program.emitters[0].op.outputs[0]].shape[-1] == ch.c1 - 2


def test_depth_multiplier_two_drops_both_outputs_of_a_channel():
    """CONV (channel 1 masked) -> DEPTHWISE x2 (SAME 3x3) -> CONV 1x1: outputs 2 and 3 go."""
    rng = np.random.default_rng(11)
    spec = ModelSpec()
    x = spec.add(T((1, 4, 4, 2), scale=[0.02], zero_point=[3]))
    w1 = rng.integers(-127, 128, (3, 1, 1, 2)).astype(np.int8)
    w1[1] = 0
    f1 = spec.add(T(w1.shape, scale=[0.01] * 3, zero_point=[0] * 3, data=w1))
    b1 = spec.add(T((3,), "int32", scale=[0.0002] * 3, zero_point=[0] * 3, data=np.array([90, 0, -40], np.int32)))
    y = spec.add(T((1, 4, 4, 3), scale=[0.05], zero_point=[-128]))
    conv = dict(strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=1)
    spec.ops.append(Op("CONV_2D", [x, f1, b1], [y], options("Conv2DOptions", padding=1, **conv), "Conv2DOptions"))
    wd = rng.integers(-127, 128, (1, 3, 3, 6)).astype(np.int8)
    fd = spec.add(T(wd.shape, scale=[0.01] * 6, zero_point=[0] * 6, axis=3, data=wd))
    bd = spec.add(T((6,), "int32", scale=[0.0005] * 6, zero_point=[0] * 6,
                    data=rng.integers(-500, 500, 6).astype(np.int32)))
    d = spec.add(T((1, 4, 4, 6), scale=[0.08], zero_point=[-20]))
    spec.ops.append(Op("DEPTHWISE_CONV_2D", [y, fd, bd], [d],
                       options("DepthwiseConv2DOptions", padding=0, depthMultiplier=2, **conv),
                       "DepthwiseConv2DOptions"))
    w2 = rng.integers(-127, 128, (2, 1, 1, 6)).astype(np.int8)
    f2 = spec.add(T(w2.shape, scale=[0.01] * 2, zero_point=[0] * 2, data=w2))
    b2 = spec.add(T((2,), "int32", scale=[0.0008] * 2, zero_point=[0] * 2, data=np.array([7, -9], np.int32)))
    z = spec.add(T((1, 4, 4, 2), scale=[0.2], zero_point=[1]))
    spec.ops.append(Op("CONV_2D", [d, f2, b2], [z], options("Conv2DOptions", padding=1, **conv), "Conv2DOptions"))
    spec.inputs, spec.outputs = [x], [z]
    res = assert_layers_bit_exact(build(spec))
    layers = {l["operator"]: l for l in res.program.slim.layers}
    assert layers[0]["removed_out_channels"] == [1]
    assert layers[1]["removed_out_channels"] == [2, 3] and layers[1]["removed_in_channels"] == [1]
    # the depthwise outputs are constants other than its zero point: folded into the 1x1's bias
    assert layers[2]["removed_in_channels"] == [2, 3] and layers[2]["bias_folded"]
