"""Each supported operator, swept over its parameter space, bit-exact with TFLite BUILTIN_REF.

Models are built straight from the TFLite schema (tests/codegen/tflbuild.py) so every
combination of stride, dilation, padding, depth multiplier, per-tensor/per-channel
quantization and fused activation can be drawn; TFLite's reference interpreter is the oracle.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyml_prune.codegen import read_tflite
from tinyml_prune.verify import random_inputs, verify_host

from . import opmodels

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")

SWEEP = settings(max_examples=8, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ACT = st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
PAD = st.sampled_from(["SAME", "VALID"])


def assert_bit_exact(model: bytes, n: int = 12, seed: int = 0, sanitize: bool = False):
    g = read_tflite(model)
    result = verify_host(model, random_inputs(g.input.shape, n, seed), sanitize=sanitize)
    assert result.ok, str(result.mismatch)
    assert result.matched == n


@st.composite
def conv_params(draw, depthwise=False):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(PAD)
    # VALID needs the dilated kernel to fit.
    h = draw(st.integers((k[0] - 1) * dil[0] + 1, 9))
    w = draw(st.integers((k[1] - 1) * dil[1] + 1, 9))
    return dict(h=h, w=w, cin=draw(st.integers(1, 6)), cout=draw(st.integers(1, 6)), k=k, stride=stride,
                dil=dil, padding=padding, act=draw(ACT), per_channel=draw(st.booleans()),
                mult=draw(st.integers(1, 3)) if depthwise else 1,  # TFLite requires a conv bias
                seed=draw(st.integers(0, 2**16)))


@SWEEP
@given(conv_params())
def test_conv_2d_sweep(p):
    rng = np.random.default_rng(p.pop("seed"))
    assert_bit_exact(opmodels.conv(rng, **p))


@SWEEP
@given(conv_params(depthwise=True))
def test_depthwise_conv_2d_sweep(p):
    rng = np.random.default_rng(p.pop("seed"))
    assert_bit_exact(opmodels.conv(rng, depthwise=True, **p))


@SWEEP
@given(rows=st.integers(1, 3), depth=st.integers(1, 80), units=st.integers(1, 24), act=ACT,
       per_channel=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_fully_connected_sweep(rows, depth, units, act, per_channel, bias, seed):
    rng = np.random.default_rng(seed)
    assert_bit_exact(opmodels.fully_connected(rng, rows, depth, units, act, per_channel, bias))


@SWEEP
@given(kind=st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]), h=st.integers(3, 9), w=st.integers(3, 9),
       c=st.integers(1, 5), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=PAD, act=ACT, seed=st.integers(0, 2**16))
def test_pool_sweep(kind, h, w, c, k, stride, padding, act, seed):
    assert_bit_exact(opmodels.pool(np.random.default_rng(seed), kind, h, w, c, k, stride, padding, act))


@SWEEP
@given(h=st.integers(1, 5), w=st.integers(1, 5), c=st.integers(1, 8), act=ACT, seed=st.integers(0, 2**16))
def test_residual_add_sweep(h, w, c, act, seed):
    assert_bit_exact(opmodels.residual_add(np.random.default_rng(seed), h, w, c, act))


@SWEEP
@given(rows=st.integers(1, 3), n=st.integers(1, 40), beta=st.sampled_from([1.0, 0.5, 2.0]),
       reshape_first=st.booleans(), seed=st.integers(0, 2**16))
def test_softmax_sweep(rows, n, beta, reshape_first, seed):
    assert_bit_exact(opmodels.softmax(np.random.default_rng(seed), rows, n, beta, reshape_first))


def test_reshape_in_place_and_into_output_under_sanitizers():
    model = opmodels.conv_reshape_fc(np.random.default_rng(7))
    assert_bit_exact(model, n=20, sanitize=True)


@pytest.mark.parametrize("depthwise", [False, True])
def test_strided_dilated_same_padding_under_sanitizers(depthwise):
    rng = np.random.default_rng(3)
    model = opmodels.conv(rng, h=9, w=7, cin=3, cout=4, k=(3, 2), stride=(2, 3), dil=(2, 1), padding="SAME",
                          act="RELU6", depthwise=depthwise, mult=2)
    assert_bit_exact(model, n=20, sanitize=True)
