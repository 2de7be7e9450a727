"""Channel-prune the MLPerf Tiny Keras fixtures 50%: slimmed == masked, exact parameter counts."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import fixture_path
from tinyml_prune.modelio import load_model
from tinyml_prune.pruning.channel import ChannelConfig, mask_channels, plan_channels, slim_model


@pytest.fixture(scope="module")
def str_ww():
    return load_model(fixture_path("str_ww_ref_model.h5"))


@pytest.fixture(scope="module")
def ad01():
    return load_model(fixture_path("ad01.h5"))


def _prune(model, criterion, data):
    plan = plan_channels(model, ChannelConfig(sparsity=0.5, criterion=criterion), data=data)
    slim = slim_model(model, plan.cgraph, plan.keep)
    np.testing.assert_allclose(slim.predict(data, verbose=0), mask_channels(model, plan).predict(data, verbose=0),
                               rtol=1e-4, atol=1e-5)
    return plan, slim


@pytest.mark.parametrize("criterion", ["l1", "bn", "apoz"])
def test_str_ww_half_the_channels(str_ww, criterion):
    x = np.random.default_rng(0).normal(size=(32, 30, 1, 40)).astype(np.float32)
    plan, slim = _prune(str_ww, criterion, x)
    # Four groups (conv2d..conv2d_3 with their BN/ReLU/Dropout/next depthwise); the input and
    # the softmax classifier output stay.
    pruned = [g for g in plan.groups if not g.excluded]
    assert [g.sources for g in pruned] == [["conv2d"], ["conv2d_1"], ["conv2d_2"], ["conv2d_3"]]
    assert [(g.channels_before, g.channels_after) for g in pruned] == [(128, 64)] * 3 + [(32, 16)]
    assert pruned[0].members == ["conv2d", "batch_normalization", "activation", "dropout",
                                 "depthwise_conv2d_1", "conv2d_1"]
    # By hand: dw 3*40; conv 40*64; BN 4*64; dw1 5*64; conv1 64*64; BN; dw2 10*64; conv2 64*64; BN;
    # dw3 15*64; conv3 64*16; BN 4*16; dense 16*3+3.
    want = (120 + 40 * 64 + 256 + 5 * 64 + 64 * 64 + 256 + 10 * 64 + 64 * 64 + 256 + 15 * 64
            + 64 * 16 + 64 + 16 * 3 + 3)
    assert slim.count_params() == want == 14699
    assert str_ww.count_params() == 47707


@pytest.mark.parametrize("criterion", ["l1", "bn"])
def test_ad01_half_the_channels(ad01, criterion):
    x = np.random.default_rng(1).normal(size=(32, 640)).astype(np.float32)
    plan, slim = _prune(ad01, criterion, x)
    widths = [slim.get_layer(f"dense_{i}" if i else "dense").units for i in range(10)]
    assert widths == [64, 64, 64, 64, 4, 64, 64, 64, 64, 640]
    # Dense(in, out) = in*out + out; eight 64-wide BNs (4*64) and the 4-wide one (4*4).
    dense = [(640, 64), (64, 64), (64, 64), (64, 64), (64, 4), (4, 64), (64, 64), (64, 64), (64, 64), (64, 640)]
    want = sum(i * o + o for i, o in dense) + 8 * 256 + 16
    assert slim.count_params() == want == 110228
