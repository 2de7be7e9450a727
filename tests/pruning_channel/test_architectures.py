"""Channel pruning through standard architectures and hand-made blocks.

keras.applications models (weights=None) at 32x32 and small hand-made models with SE blocks,
hard-swish written as tf ops, Concatenate, ZeroPadding2D, UpSampling2D / Conv2DTranspose,
swish / ReLU6 / LeakyReLU, Reshape, Conv1D: the slimmed model must compute what the masked
model computes, and every layer must have the width the plan says.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinyml_prune.errors import ModelError
from tinyml_prune.kerasenv import keras
from tinyml_prune.pruning.channel import ChannelConfig, analyse, mask_channels, plan_channels, slim_model

from .helpers import randomise_bn

L = keras.layers
A = keras.applications
S = 32


def _hard_swish(x):
    return x * (L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0))


def se_block(x, width, name):
    """GAP -> Dense -> Dense(sigmoid) -> Multiply: the gate's units are the gated channels."""
    s = L.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    s = L.Dense(max(2, width // 4), activation="relu", name=f"{name}_fc1")(s)
    s = L.Dense(width, activation="sigmoid", name=f"{name}_fc2")(s)
    return L.Multiply(name=f"{name}_mul")([x, s])


def mixed_cnn(input_shape=(16, 16, 3), classes=5):
    """SE (Dense and Conv/Reshape forms), hard-swish as tf ops, swish, ReLU6, LeakyReLU,
    Concatenate, ZeroPadding2D, depthwise, Rescaling at the input, Flatten -> Dense."""
    inp = keras.Input(input_shape, name="input")
    x = L.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inp)
    x = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(x)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = _hard_swish(x)
    x = L.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(x)
    x = L.DepthwiseConv2D(3, strides=2, name="dw")(x)
    x = L.BatchNormalization(name="dw_bn")(x)
    x = L.Activation("swish", name="dw_swish")(x)
    x = se_block(x, 16, "se1")
    a = L.Conv2D(8, 1, activation="relu6", name="branch_a")(x)
    b = L.Conv2D(12, 3, padding="same", name="branch_b")(x)
    b = L.LeakyReLU(0.1, name="branch_b_lrelu")(b)
    x = L.Concatenate(name="cat")([a, b])
    x = L.Conv2D(16, 1, use_bias=False, name="mix")(x)
    x = L.BatchNormalization(name="mix_bn")(x)
    x = L.ReLU(6.0, name="mix_relu6")(x)
    # SE as in EfficientNet: GAP -> Reshape(1, 1, C) -> Conv -> Conv(sigmoid) -> Multiply
    s = L.GlobalAveragePooling2D(name="se2_gap")(x)
    s = L.Reshape((1, 1, 16), name="se2_reshape")(s)
    s = L.Conv2D(4, 1, activation="swish", name="se2_reduce")(s)
    s = L.Conv2D(16, 1, activation="sigmoid", name="se2_expand")(s)
    x = L.Multiply(name="se2_mul")([x, s])
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="head")(x)
    x = L.Flatten(name="flat")(x)
    out = L.Dense(classes, name="logits")(x)
    return keras.Model(inp, out, name="mixed_cnn")


def unet(input_shape=(16, 16, 3)):
    """Encoder/decoder with UpSampling2D and Conv2DTranspose, skip Concatenates."""
    inp = keras.Input(input_shape, name="input")
    e1 = L.Conv2D(8, 3, padding="same", activation="relu", name="enc1")(inp)
    p1 = L.MaxPooling2D(name="pool1")(e1)
    e2 = L.Conv2D(16, 3, padding="same", activation="relu", name="enc2")(p1)
    p2 = L.MaxPooling2D(name="pool2")(e2)
    mid = L.Conv2D(16, 3, padding="same", activation="relu", name="mid")(p2)
    u2 = L.Conv2DTranspose(12, 2, strides=2, padding="same", name="up2")(mid)
    d2 = L.Concatenate(name="cat2")([u2, e2])
    d2 = L.Conv2D(12, 3, padding="same", activation="relu", name="dec2")(d2)
    u1 = L.UpSampling2D(name="up1")(d2)
    d1 = L.Concatenate(name="cat1")([u1, e1])
    d1 = L.Conv2D(8, 3, padding="same", activation="relu", name="dec1")(d1)
    out = L.Conv2D(2, 1, name="mask")(d1)
    return keras.Model(inp, out, name="unet")


def conv1d_net(input_shape=(32, 4), classes=3):
    inp = keras.Input(input_shape, name="input")
    x = L.Conv1D(16, 5, padding="same", name="c1")(inp)
    x = L.BatchNormalization(name="c1_bn")(x)
    x = L.ReLU(name="c1_relu")(x)
    x = L.Conv1D(16, 3, padding="same", activation="swish", name="c2")(x)
    x = L.MaxPooling1D(name="pool")(x)
    x = L.Conv1D(8, 3, padding="same", activation="relu", name="c3")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    out = L.Dense(classes, name="logits")(x)
    return keras.Model(inp, out, name="conv1d_net")


APPLICATIONS = {
    "MobileNet": lambda: A.MobileNet(input_shape=(S, S, 3), alpha=0.25, weights=None, classes=10,
                                     classifier_activation=None),
    "MobileNetV2": lambda: A.MobileNetV2(input_shape=(S, S, 3), alpha=0.35, weights=None, classes=10,
                                         classifier_activation=None),
    "MobileNetV3Small": lambda: A.MobileNetV3Small(input_shape=(S, S, 3), weights=None, classes=10,
                                                   classifier_activation=None),
    "EfficientNetB0": lambda: A.EfficientNetB0(input_shape=(S, S, 3), weights=None, classes=10,
                                               classifier_activation=None),
    "ResNet50": lambda: A.ResNet50(input_shape=(S, S, 3), weights=None, classes=10, classifier_activation=None),
    "DenseNet121": lambda: A.DenseNet121(input_shape=(S, S, 3), weights=None, classes=10,
                                         classifier_activation=None),
}
HAND_MADE = {"mixed_cnn": mixed_cnn, "unet": unet, "conv1d_net": conv1d_net}


def _check_slim_equals_masked(model, sparsity=0.3, seed=0):
    rng = np.random.default_rng(seed)
    randomise_bn(model, rng)
    plan = plan_channels(model, ChannelConfig(sparsity=sparsity, criterion="l1"))
    slim = slim_model(model, plan.cgraph, plan.keep)
    masked = mask_channels(model, plan)
    x = rng.uniform(0, 1, size=(2,) + tuple(model.input_shape[1:])).astype(np.float32)
    a, b = slim(x, training=False).numpy(), masked(x, training=False).numpy()
    scale = max(float(np.abs(b).max()), 1e-6)
    diff = float(np.abs(a - b).max())
    assert diff <= 1e-4 * scale, f"{model.name}: slim vs masked max abs diff {diff} (output scale {scale})"
    # Widths as planned, and something was actually removed.
    slim_shapes = analyse(slim).graph.shapes
    for call in plan.cgraph.graph.calls:
        want = int(plan.cgraph.keep_mask(call.outputs[0], plan.keep).sum())
        assert slim_shapes[call.outputs[0]][-1] == want, call.name
    assert slim.count_params() < model.count_params()
    assert not plan.cgraph.unsupported or set(plan.cgraph.unsupported) <= {"predictions", "Predictions"}
    return plan, slim


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_applications_slim_equals_masked(name):
    model = APPLICATIONS[name]()
    plan, _ = _check_slim_equals_masked(model)
    assert not plan.cgraph.unsupported, plan.cgraph.unsupported
    prunable = [g for g in plan.groups if not g.excluded]
    # Only the groups touching the model input and output stay whole.
    assert len(prunable) >= len(plan.groups) - 2, [g.excluded for g in plan.groups if g.excluded]


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_hand_made_slim_equals_masked(name):
    keras.utils.set_random_seed(0)
    plan, slim = _check_slim_equals_masked(HAND_MADE[name]())
    assert not plan.cgraph.unsupported, plan.cgraph.unsupported


def test_se_gate_is_coupled_with_the_gated_channels():
    keras.utils.set_random_seed(0)
    cgraph = analyse(mixed_cnn())
    (group,) = [g for g in cgraph.groups if "se1_fc2" in g.sources]
    # Dense gate units, depthwise channels, the stem (through the depthwise) share one group.
    assert {"stem", "se1_fc2"} <= set(group.sources)
    assert {"se1_mul", "dw", "se1_fc1"} <= set(group.members)
    (se2,) = [g for g in cgraph.groups if "se2_expand" in g.sources]
    assert {"mix", "se2_expand"} <= set(se2.sources) and "se2_reshape" in se2.members


def test_concatenate_offsets_and_transpose_conv_axes():
    keras.utils.set_random_seed(0)
    model = unet()
    cgraph = analyse(model)
    up2 = next(c for c in cgraph.graph.calls if c.name == "up2")
    enc2 = next(c for c in cgraph.graph.calls if c.name == "enc2")
    cat2 = next(c for c in cgraph.graph.calls if c.name == "cat2")
    joined = cgraph.tensor_channels[cat2.outputs[0]]
    np.testing.assert_array_equal(joined[:12], cgraph.tensor_channels[up2.outputs[0]])
    np.testing.assert_array_equal(joined[12:], cgraph.tensor_channels[enc2.outputs[0]])
    # Remove channel 3 of up2 (kernel [h, w, out, in]: axis -2) and channel 5 of enc2.
    keep = cgraph.all_roots() - {int(joined[3]), int(joined[12 + 5])}
    slim = slim_model(model, cgraph, keep)
    assert slim.get_layer("up2").kernel.shape == (2, 2, 11, 16)
    assert slim.get_layer("dec2").kernel.shape == (3, 3, 26, 12)
    assert slim.get_layer("enc2").kernel.shape == (3, 3, 8, 15)
    k_old = model.get_layer("dec2").kernel.numpy()
    k_new = slim.get_layer("dec2").kernel.numpy()
    np.testing.assert_array_equal(k_new, np.delete(k_old, [3, 17], axis=2))


def test_refusals_are_one_line_and_name_the_layer():
    inp = keras.Input((8, 8, 4), name="input")
    x = L.Conv2D(8, 1, name="c")(inp)
    x = L.Reshape((8, 16, 4), name="split_channels")(x)  # moves channel elements across positions
    x = L.Conv2D(4, 1, name="d")(x)
    cgraph = analyse(keras.Model(inp, x))
    assert "split_channels" in cgraph.unsupported
    assert "does not keep the channel axis" in cgraph.unsupported["split_channels"]
    # Groups touching it are excluded, with that reason; no exception from inside.
    (g,) = [g for g in cgraph.groups if "c" in g.sources]
    assert any("split_channels" in r for r in g.excluded)


def test_tf_op_with_vector_constant_is_refused_cleanly():
    inp = keras.Input((8, 8, 4), name="input")
    x = L.Conv2D(4, 1, name="c")(inp)
    x = x + np.arange(4, dtype=np.float32)  # per-channel constant: would need slicing
    x = L.Conv2D(4, 1, name="d")(x)
    cgraph = analyse(keras.Model(inp, x))
    reasons = list(cgraph.unsupported.values())
    assert len(reasons) == 1 and "constant" in reasons[0] and "\n" not in reasons[0]


def test_unreadable_model_is_a_model_error():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ModelError):
        analyse(Sub())
