"""TRANSPOSE_CONV, swept over kernel, stride, padding, quantization and activation,
bit-exact with TFLite BUILTIN_REF."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyml_prune.codegen import read_tflite
from tinyml_prune.errors import ModelError
from tinyml_prune.verify import random_inputs, verify_host

from .tflbuild import ModelSpec, Op, T, build, options

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
ACTS = {"NONE": 0, "RELU": 1, "RELU6": 3}


def transpose_conv(rng, h, w, cin, cout, k, stride, padding, act, per_channel=True, bias=True, extra=(0, 0)):
    spec = ModelSpec()
    in_scale = float(rng.uniform(0.005, 0.1))
    inp = spec.add(T((1, h, w, cin), scale=[in_scale], zero_point=[int(rng.integers(-20, 20))]))
    if padding == "SAME":
        oh, ow = h * stride[0], w * stride[1]
    else:
        oh, ow = (h - 1) * stride[0] + k[0], (w - 1) * stride[1] + k[1]
    oh, ow = oh + extra[0], ow + extra[1]
    shape = spec.add(T((4,), "int32", data=np.array([1, oh, ow, cout], np.int32)))
    ns = cout if per_channel else 1
    w_scales = [float(s) for s in rng.uniform(0.002, 0.02, ns)]
    filt = spec.add(T((cout, k[0], k[1], cin), scale=w_scales, zero_point=[0] * ns,
                      data=rng.integers(-127, 128, (cout, k[0], k[1], cin)).astype(np.int8)))
    b = spec.add(T((cout,), "int32", scale=[in_scale * s for s in w_scales], zero_point=[0] * ns,
                   data=rng.integers(-3000, 3000, cout).astype(np.int32))) if bias else -1
    depth = max(1, k[0] * k[1] * cin // (stride[0] * stride[1]))
    out_scale = float(in_scale * max(w_scales) * math.sqrt(depth) * 400 * rng.uniform(0.2, 2.0))
    out = spec.add(T((1, oh, ow, cout), scale=[out_scale], zero_point=[int(rng.integers(-30, 30))]))
    spec.ops.append(Op("TRANSPOSE_CONV", [shape, filt, inp] + ([b] if bias else []), [out],
                       options("TransposeConvOptions", padding=0 if padding == "SAME" else 1, strideH=stride[0],
                               strideW=stride[1], fusedActivationFunction=ACTS[act]), "TransposeConvOptions"))
    spec.inputs, spec.outputs = [inp], [out]
    return build(spec)


def check(model: bytes, n: int = 10, sanitize: bool = False):
    result = verify_host(model, random_inputs(read_tflite(model).input.shape, n, 0), sanitize=sanitize)
    assert result.ok, str(result.mismatch)


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(h=st.integers(1, 5), w=st.integers(1, 5), cin=st.integers(1, 5), cout=st.integers(1, 5),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.sampled_from(["SAME", "VALID"]), act=st.sampled_from(sorted(ACTS)),
       per_channel=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_transpose_conv_sweep(h, w, cin, cout, k, stride, padding, act, per_channel, bias, seed):
    check(transpose_conv(np.random.default_rng(seed), h, w, cin, cout, k, stride, padding, act, per_channel, bias))


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_unet_upsampling_under_sanitizers(padding):
    check(transpose_conv(np.random.default_rng(1), 4, 3, 6, 4, (3, 3), (2, 2), padding, "RELU"), n=16,
          sanitize=True)


def test_output_shape_that_disagrees_is_refused():
    model = bytearray(transpose_conv(np.random.default_rng(2), 3, 3, 2, 2, (3, 3), (2, 2), "SAME", "NONE"))
    from tinyml_prune.codegen import CodegenOptions, build_program

    g = read_tflite(bytes(model))
    shape_t = g.tensors[g.operators[0].inputs[0]]
    shape_t.data = np.array([1, 5, 6, 2], np.int32)
    with pytest.raises(ModelError, match="output_shape"):
        build_program(g, CodegenOptions())
