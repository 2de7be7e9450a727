"""Channel groups, exclusions, skip / min_channels / per-layer settings, criteria choices."""
from __future__ import annotations

import numpy as np
import pytest

from tinyml_prune import models
from tinyml_prune.errors import DataError, ModelError
from tinyml_prune.kerasenv import keras
from tinyml_prune.pruning.channel import (ChannelConfig, analyse, mask_channels, plan_channels,
                                          prune_channels)
from tinyml_prune.pruning.config import LayerConfig

from .helpers import randomise_bn

L = keras.layers


def _by_source(cgraph):
    return {tuple(g.sources): g for g in cgraph.groups}


def test_residual_add_ties_the_stem_and_both_block_outputs():
    model = models.digits_resnet()
    groups = _by_source(analyse(model))
    tied = groups[("stem_conv", "block0_b_conv", "block1_b_conv")]
    assert tied.prunable and tied.size == 16
    assert {"block0_add", "block1_add", "block0_a_conv", "down_conv"} <= set(tied.members)
    assert groups[("block0_a_conv",)].prunable
    assert groups[("down_conv",)].prunable  # -> AveragePooling -> Flatten -> Dense


def test_resnet_slims_to_masked_and_keeps_the_residual_consistent():
    model = models.digits_resnet()
    randomise_bn(model, np.random.default_rng(0))
    slim, report = prune_channels(model, ChannelConfig(sparsity=0.5))
    assert {slim.get_layer(n).filters for n in ("stem_conv", "block0_b_conv", "block1_b_conv")} == {8}
    assert slim.get_layer("down_conv").filters == 16
    plan = plan_channels(model, ChannelConfig(sparsity=0.5))
    x = np.random.default_rng(1).normal(size=(8, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(slim(x).numpy(), mask_channels(model, plan)(x).numpy(), rtol=1e-5, atol=1e-6)
    row = {r.name: r for r in report.layers}["down_conv"]
    assert (row.channels_in_before, row.channels_in_after, row.channels_out_before, row.channels_out_after) \
        == (16, 8, 32, 16)
    assert (row.params_before, row.params_after) == (9 * 16 * 32, 9 * 8 * 16)
    assert (row.macs_before, row.macs_after) == (4 * 4 * 32 * 9 * 16, 4 * 4 * 16 * 9 * 8)
    assert report.totals["params_after"] < report.totals["params_before"]


def test_unsupported_layer_excludes_its_groups_with_the_reason():
    inp = keras.Input((4, 4, 2))
    a = L.Conv2D(6, 1, name="a")(inp)
    r = L.Permute((2, 1, 3), name="permute")(a)
    b = L.Conv2D(5, 1, name="b")(r)
    out = L.Dense(2, name="out")(L.Flatten(name="flat")(b))
    groups = _by_source(analyse(keras.Model(inp, out)))
    assert groups[("a",)].excluded == ["layer 'permute' (Permute) is not supported by channel pruning"]
    assert groups[("b",)].prunable


def test_softmax_classifier_keeps_outputs_but_inputs_shrink():
    inp = keras.Input((5,))
    h = L.Dense(4, activation="relu", name="h")(inp)
    out = L.Dense(3, activation="softmax", name="cls")(h)
    groups = _by_source(analyse(keras.Model(inp, out)))
    assert groups[("h",)].prunable
    assert "activation 'softmax' is not element-wise" in groups[("cls",)].excluded[0]


def test_depth_multiplier_and_concat_offsets():
    inp = keras.Input((5, 5, 3))
    a = L.Conv2D(4, 1, name="a")(inp)
    d = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(a)
    b = L.Conv2D(3, 1, name="b")(inp)
    c = L.Concatenate(name="cat")([b, d])
    out = L.Dense(2, name="out")(L.GlobalAveragePooling2D(name="gap")(c))
    model = keras.Model(inp, out)
    cgraph = analyse(model)
    groups = _by_source(cgraph)
    assert groups[("a",)].size == 4 and groups[("b",)].size == 3
    cat = cgraph.tensor_channels[("cat", 0, 0)]
    a_roots = groups[("a",)].channels
    assert cat[3:].tolist() == np.repeat(a_roots, 2).tolist()  # b first, then dw's repeated channels
    keep = cgraph.all_roots() - {int(a_roots[1]), int(groups[("b",)].channels[0])}
    from tinyml_prune.pruning.channel import slim_model

    slim = slim_model(model, cgraph, keep)
    assert slim.get_layer("out").kernel.shape == (2 + 6, 2)


def test_skip_first_last_and_min_channels():
    model = models.digits_cnn()
    plan = plan_channels(model, ChannelConfig(sparsity=0.9, skip=("first",), min_channels=4))
    by = {tuple(g.sources): g for g in plan.groups}
    assert by[("conv1",)].excluded == ["layer 'conv1' is skipped by the configuration"]
    assert (by[("pw3",)].channels_before, by[("pw3",)].channels_after) == (32, 4)
    plan = plan_channels(model, ChannelConfig(sparsity=0.5, skip=("last",)))
    by = {tuple(g.sources): g for g in plan.groups}
    assert by[("pw3",)].excluded == ["layer 'fc' is skipped by the configuration"]
    with pytest.raises(ModelError, match="no layer named 'nope'"):
        plan_channels(model, ChannelConfig(skip=("nope",)))


def test_per_layer_overrides():
    model = models.digits_cnn()
    cfg = ChannelConfig(sparsity=0.5, layers={"pw3": LayerConfig(sparsity=0.25), "conv1": LayerConfig(skip=True)})
    slim, report = prune_channels(model, cfg)
    assert slim.get_layer("pw3").filters == 24 and slim.get_layer("conv1").filters == 16
    with pytest.raises(ModelError, match="unknown layer"):
        plan_channels(model, ChannelConfig(layers={"ghost": LayerConfig(sparsity=0.1)}))


def test_bn_gamma_removes_the_smallest_scales():
    model = models.digits_cnn()
    bn = model.get_layer("bn3")
    gamma = np.linspace(1.0, 2.0, 32)
    weak = [3, 7, 11, 30]
    gamma[weak] = 1e-3 * np.arange(1, 5)
    bn.set_weights([gamma] + bn.get_weights()[1:])
    plan = plan_channels(model, ChannelConfig(sparsity=4 / 32, criterion="bn", layers={
        n: LayerConfig(skip=True) for n in ("conv1",)}))
    g = next(g for g in plan.groups if g.sources == ["pw3"])
    assert g.removed == weak


def test_apoz_removes_dead_channels_and_needs_data():
    inp = keras.Input((6,))
    h = L.Dense(8, activation="relu", name="h")(inp)
    out = L.Dense(2, name="out")(h)
    model = keras.Model(inp, out)
    w, b = model.get_layer("h").get_weights()
    b[[2, 5]] = -100.0  # always zero after ReLU
    model.get_layer("h").set_weights([w, b])
    x = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    plan = plan_channels(model, ChannelConfig(sparsity=0.25, criterion="apoz"), data=x)
    assert next(g for g in plan.groups if g.sources == ["h"]).removed == [2, 5]
    with pytest.raises(DataError, match="apoz"):
        plan_channels(model, ChannelConfig(criterion="apoz"))


def test_bn_criterion_without_bn_excludes_the_group():
    inp = keras.Input((6,))
    out = L.Dense(2, name="out")(L.Dense(8, activation="relu", name="h")(inp))
    plan = plan_channels(keras.Model(inp, out), ChannelConfig(criterion="bn"))
    g = next(g for g in plan.groups if g.sources == ["h"])
    assert g.channels_after == 8 and "has nothing to score" in g.excluded[-1]


def test_no_layer_is_emptied_by_a_coupled_group():
    # A 1-channel branch concatenated into a stream that an Add ties to another conv: the
    # group has 5 channels, but "side" owns one of them and must keep it.
    inp = keras.Input((4, 4, 2))
    a = L.Conv2D(4, 1, name="a")(inp)
    side = L.Conv2D(1, 1, name="side")(inp)
    cat = L.Concatenate(name="cat")([a, side])
    b = L.Conv2D(5, 1, name="b")(inp)
    out = L.Dense(2, name="out")(L.Flatten(name="flat")(L.Add(name="add")([cat, b])))
    model = keras.Model(inp, out)
    w, bias = model.get_layer("side").get_weights()
    model.get_layer("side").set_weights([w * 0, bias * 0])  # the weakest channel by far
    slim, _ = prune_channels(model, ChannelConfig(sparsity=0.8))
    assert slim.get_layer("side").filters == 1
    assert slim.get_layer("a").filters == 1 and slim.get_layer("b").filters == 2
    cgraph = analyse(model)
    from tinyml_prune.pruning.channel import slim_model

    side_root = int(cgraph.tensor_channels[("side", 0, 0)][0])
    with pytest.raises(ModelError, match="layer 'side' would keep none of its 1 output channels"):
        slim_model(model, cgraph, cgraph.all_roots() - {side_root})
