"""MEAN, RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR, bit-exact with TFLite BUILTIN_REF.

Models are built straight from the TFLite schema (opmodels_reduce.py) so any axes,
keep_dims, scales, sizes and corner/half-pixel options can be drawn; the reference
interpreter is the oracle. One QEMU run takes the same kernels through the real firmware.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyml_prune.codegen import read_tflite
from tinyml_prune.codegen.generate import CodegenOptions, build_program
from tinyml_prune.errors import ModelError, UnsupportedOpError
from tinyml_prune.verify import random_inputs, verify_host
from helpers.boards import assert_bit_exact_on_board

from . import opmodels_reduce as om

warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")

SWEEP = settings(max_examples=12, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RESIZES = ["RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"]


def assert_bit_exact(model: bytes, n: int = 10, seed: int = 0, sanitize: bool = False):
    g = read_tflite(model)
    result = verify_host(model, random_inputs(g.input.shape, n, seed), sanitize=sanitize)
    assert result.ok, str(result.mismatch)
    assert result.matched == n


# -- MEAN ---------------------------------------------------------------------------------

@st.composite
def mean_params(draw):
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    # negative and repeated axes are legal: TFLite resolves and de-duplicates them
    axes = draw(st.lists(st.integers(-rank, rank - 1), min_size=0, max_size=rank + 1))
    return dict(shape=shape, axes=axes, keep_dims=draw(st.booleans()), same_quant=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)))


@SWEEP
@given(mean_params())
def test_mean_sweep(p):
    rng = np.random.default_rng(p.pop("seed"))
    assert_bit_exact(om.reduce(rng, **p))


@SWEEP
@given(n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 6),
       axes=st.sampled_from([[1, 2], [2, 1], [-3, -2], [1, -2]]), keep_dims=st.booleans(),
       same_quant=st.booleans(), seed=st.integers(0, 2**16))
def test_mean_spatial_global_average_pooling_sweep(n, h, w, c, axes, keep_dims, same_quant, seed):
    """NHWC MEAN over height and width (Keras GlobalAveragePooling2D), the common case."""
    rng = np.random.default_rng(seed)
    assert_bit_exact(om.reduce(rng, (n, h, w, c), axes, keep_dims, same_quant))


@pytest.mark.parametrize("shape, axes, scales", [
    ((1, 64, 128, 1), [1, 2], (0.001, 1000.0)),  # 1/count cannot be folded in whole: shift capped
    ((1, 3, 4, 5), [3], (0.08, 0.01)),  # output finer than input: a left shift
    ((2, 1, 5), [1], (0.05, 0.006)),  # a single element per output
    ((1, 7, 7, 16), [1, 2], (0.02, 0.02)),
])
def test_mean_extreme_scales(shape, axes, scales):
    rng = np.random.default_rng(11)
    assert_bit_exact(om.reduce(rng, shape, axes, True, scales=scales), n=6)


def test_mean_alternating_axes_under_sanitizers():
    # rank 6, reduced axes 0, 2, 4: three kept and three reduced groups
    rng = np.random.default_rng(5)
    assert_bit_exact(om.reduce(rng, (2, 3, 2, 3, 2, 3), [0, 2, -2], False), n=8, sanitize=True)


@pytest.mark.parametrize("keep_dims", [True, False])
def test_conv_global_average_pooling_head_under_sanitizers(keep_dims):
    model = om.conv_gap_head(np.random.default_rng(3), keep_dims=keep_dims)
    assert_bit_exact(model, n=12, sanitize=True)


def test_sum_is_refused():
    # TFLite's reference int8 SUM reads its input as uint8: nothing correct to be bit-exact with.
    model = om.reduce(np.random.default_rng(0), (1, 4, 4, 3), [1, 2], True, opcode="SUM")
    with pytest.raises(UnsupportedOpError, match="operator 0 is SUM"):
        build_program(read_tflite(model), CodegenOptions())


# -- RESIZE -------------------------------------------------------------------------------

@st.composite
def resize_params(draw):
    kind = draw(st.sampled_from(RESIZES))
    align_corners = draw(st.booleans())
    # bilinear rejects both flags (as TFLite does); nearest neighbour accepts them together
    half_pixel_centers = draw(st.booleans()) if kind == RESIZES[0] or not align_corners else False
    return dict(kind=kind, n=draw(st.integers(1, 2)), h=draw(st.integers(1, 8)), w=draw(st.integers(1, 8)),
                c=draw(st.integers(1, 4)), oh=draw(st.integers(1, 17)), ow=draw(st.integers(1, 17)),
                align_corners=align_corners, half_pixel_centers=half_pixel_centers,
                seed=draw(st.integers(0, 2**16)))


@settings(SWEEP, max_examples=24)
@given(resize_params())
def test_resize_sweep(p):
    rng = np.random.default_rng(p.pop("seed"))
    assert_bit_exact(om.resize(rng, **p), n=6)


@pytest.mark.parametrize("kind", RESIZES)
@pytest.mark.parametrize("hw, out_hw", [((3, 4), (12, 16)), ((16, 12), (5, 3)), ((5, 5), (5, 5))])
def test_resize_up_down_same_under_sanitizers(kind, hw, out_hw):
    rng = np.random.default_rng(1)
    for align_corners, half_pixel_centers in ((False, True), (True, False)):
        model = om.resize(rng, kind, 1, *hw, 3, *out_hw, align_corners, half_pixel_centers)
        assert_bit_exact(model, n=4, sanitize=True)


def test_conv_then_bilinear_upsampling():
    assert_bit_exact(om.conv_resize(np.random.default_rng(2)), n=8)


def test_resize_refusals():
    rng = np.random.default_rng(0)
    both = om.resize(rng, "RESIZE_BILINEAR", 1, 3, 3, 1, 6, 6, True, True)
    with pytest.raises(ModelError, match="operator 0 .*align_corners and half_pixel_centers"):
        build_program(read_tflite(both), CodegenOptions())
    # an output quantization unlike the input's would need a requantization TFLite does not do
    spec_model = om.resize(rng, "RESIZE_NEAREST_NEIGHBOR", 1, 2, 2, 1, 4, 4)
    g = read_tflite(spec_model)
    g.tensors[g.operators[0].outputs[0]].quant = type(g.input.quant)(np.array([0.5], np.float32),
                                                                     np.array([0], np.int64))
    with pytest.raises(UnsupportedOpError, match="quantization differ"):
        build_program(g, CodegenOptions())


# -- QEMU ---------------------------------------------------------------------------------

@pytest.mark.qemu
def test_conv_resize_mean_head_on_qemu_m4(tmp_path):
    """CONV -> RESIZE_BILINEAR (half-pixel) -> MEAN over [1, 2] -> RESHAPE -> FULLY_CONNECTED
    through the real firmware on qemu-m4, every output byte compared with BUILTIN_REF."""
    assert_bit_exact_on_board(om.conv_gap_head(np.random.default_rng(4), resize="RESIZE_BILINEAR"), tmp_path)
