"""Standard architectures at small input sizes, for proving the whole chain on real graphs.

Every entry builds an untrained Keras model (``weights=None``: nothing downloads) with seeded
weights, and ``convert_int8`` turns it into a full-integer int8 flatbuffer calibrated on seeded
synthetic data. The entries cover the keras.applications families (MobileNet, MobileNetV2,
MobileNetV3Small, EfficientNetB0, ResNet50, DenseNet121), smaller builds of the large ones with
the same layer types, and hand-made models for single features (global pooling, Conv1D,
squeeze-and-excite, concatenation and padding, a UNet, LeakyReLU/tanh, dilation, a reshape
after a convolution, two inputs and two outputs, float input/output).

    entry = zoo.get("mobilenet_v2")
    tflite = zoo.convert_int8(entry.build(), entry.representative(8), float_io=entry.float_io)
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .kerasenv import keras, quiet_native_stderr, tf
from .quantize.ptq import int8_converter

__all__ = ["ZooModel", "REGISTRY", "get", "names", "convert_int8", "build_int8"]

L = keras.layers
SEED = 0


@dataclass(frozen=True)
class ZooModel:
    name: str
    input_shapes: tuple[tuple[int, ...], ...]  # one per model input, without the batch axis
    description: str
    builder: Callable[[], "keras.Model"]
    float_io: bool = False  # convert with the converter's default float32 inputs and outputs
    heavy: bool = False  # full-size network: minutes of conversion and compilation, MBs of weights

    def build(self, seed: int = SEED) -> "keras.Model":
        """The Keras model with weights drawn from ``seed`` (same seed, same weights).

        BatchNormalization layers get random affine parameters and moving statistics taken
        from seeded inputs, as a trained network has: with the initial identity statistics a
        deep untrained network's activations shrink layer by layer until the logits are all
        zero, a degenerate model no trained network resembles."""
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = self.builder()
        _settle_batchnorm(model, self.representative(16, seed + 1), seed)
        return model

    def representative(self, n: int, seed: int = SEED) -> list[np.ndarray]:
        """``n`` seeded samples per input, uniform in [-1, 1] (float32)."""
        rng = np.random.default_rng(seed)
        return [rng.uniform(-1.0, 1.0, size=(n, *shape)).astype(np.float32) for shape in self.input_shapes]


def _settle_batchnorm(model, samples: list[np.ndarray], seed: int) -> None:
    bns = [layer for layer in model.submodules if isinstance(layer, L.BatchNormalization)]
    if not bns:
        return
    rng = np.random.default_rng(seed)
    saved = []
    for bn in bns:
        if bn.scale:
            bn.gamma.assign(rng.uniform(0.5, 1.5, bn.gamma.shape).astype(np.float32))
        if bn.center:
            bn.beta.assign(rng.uniform(-0.5, 0.5, bn.beta.shape).astype(np.float32))
        saved.append(bn.momentum)
        bn.momentum = 0.0  # one training-mode call sets the moving statistics to the batch's
    # Training mode normalizes every layer with its own batch statistics in a single pass.
    model(samples if len(samples) > 1 else samples[0], training=True)
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum


def _representative(model, rep_data: Sequence[np.ndarray]):
    # Keyed by input name: the converter's signature does not keep the order of model.inputs.
    keys = [t.name.split(":")[0] for t in model.inputs]

    def gen():
        for i in range(len(rep_data[0])):
            yield {k: x[i:i + 1].astype(np.float32) for k, x in zip(keys, rep_data)}

    return gen


def convert_int8(model, rep_data: np.ndarray | Sequence[np.ndarray], float_io: bool = False) -> bytes:
    """Full-integer int8 flatbuffer of ``model``: int8 weights and activations, int8 builtins only.

    ``rep_data`` is one array of calibration samples per model input (a single array for a
    one-input model), in the order of ``model.inputs`` (the flatbuffer may list its inputs in
    another order: the converter picks its own). ``float_io`` keeps the converter's
    default float32 inputs and outputs (a QUANTIZE / DEQUANTIZE at the boundary)."""
    if isinstance(rep_data, np.ndarray):
        rep_data = [rep_data]
    if len(rep_data) != len(model.inputs):
        raise ValueError(f"{len(rep_data)} calibration arrays for a model with {len(model.inputs)} inputs")
    converter = int8_converter(tf.lite.TFLiteConverter.from_keras_model(model), rep_data[0])
    converter.representative_dataset = _representative(model, rep_data)
    if float_io:
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    with quiet_native_stderr():
        return converter.convert()


def build_int8(name: str, n_calibration: int = 8, seed: int = SEED) -> bytes:
    """Build zoo entry ``name`` and convert it (seeded weights and calibration data)."""
    entry = get(name)
    return convert_int8(entry.build(seed), entry.representative(n_calibration, seed), float_io=entry.float_io)


# -- keras.applications ---------------------------------------------------------------------
APP_SHAPE = (32, 32, 3)  # the smallest input every keras.applications family accepts
APP_CLASSES = 10


def _app(fn, **kwargs):
    def build():
        return fn(input_shape=APP_SHAPE, weights=None, classes=APP_CLASSES, **kwargs)

    return build


def _mobilenet_v3_small():
    kwargs = dict(alpha=1.0, minimalistic=False)
    if "include_preprocessing" in inspect.signature(keras.applications.MobileNetV3Small).parameters:
        kwargs["include_preprocessing"] = False
    return _app(keras.applications.MobileNetV3Small, **kwargs)()


def _resnet_mini():
    from tf_keras.src.applications import resnet

    def stack_fn(x):
        x = resnet.stack1(x, 8, 1, stride1=1, name="conv2")
        return resnet.stack1(x, 16, 1, name="conv3")

    return resnet.ResNet(stack_fn, False, True, "resnet_mini", input_shape=APP_SHAPE, weights=None,
                         classes=APP_CLASSES)


def _densenet_mini():
    from tf_keras.src.applications import densenet

    return densenet.DenseNet([1, 1, 1, 1], input_shape=APP_SHAPE, weights=None, classes=APP_CLASSES)


def _efficientnet_mini():
    from tf_keras.src.applications import efficientnet

    return efficientnet.EfficientNet(0.25, 0.25, 32, model_name="efficientnet_mini", input_shape=APP_SHAPE,
                                     weights=None, classes=APP_CLASSES)


# -- hand-made models ------------------------------------------------------------------------
def _gap_head():
    x = inp = keras.Input((16, 16, 3), name="input")
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(x)
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(10, activation="softmax", name="fc")(x)
    return keras.Model(inp, x, name="gap_head")


def _conv1d_audio():
    x = inp = keras.Input((64, 10), name="mfcc")  # 64 frames x 10 coefficients
    x = L.Conv1D(16, 5, padding="same", activation="relu", name="conv1")(x)
    x = L.MaxPooling1D(2, name="pool1")(x)
    x = L.Conv1D(32, 3, strides=2, activation="relu", name="conv2")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    x = L.Dense(12, activation="softmax", name="fc")(x)
    return keras.Model(inp, x, name="conv1d_audio")


def _squeeze_excite():
    x = inp = keras.Input((16, 16, 3), name="input")
    x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    s = L.GlobalAveragePooling2D(name="se_squeeze")(x)
    s = L.Dense(8, activation="relu", name="se_reduce")(s)
    s = L.Dense(32, activation="sigmoid", name="se_expand")(s)
    s = L.Reshape((1, 1, 32), name="se_reshape")(s)
    x = L.Multiply(name="se_excite")([x, s])
    x = L.Conv2D(16, 1, activation="relu", name="project")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(10, activation="softmax", name="fc")(x)
    return keras.Model(inp, x, name="squeeze_excite")


def _concat_pad():
    x = inp = keras.Input((16, 16, 3), name="input")
    a = L.Conv2D(8, 1, activation="relu", name="branch_1x1")(x)
    b = L.Conv2D(8, 3, padding="same", activation="relu", name="branch_3x3")(x)
    x = L.Concatenate(name="concat")([a, b])
    x = L.ZeroPadding2D(((1, 2), (2, 1)), name="pad")(x)
    x = L.Conv2D(16, 3, strides=2, activation="relu", name="conv_valid")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(10, activation="softmax", name="fc")(x)
    return keras.Model(inp, x, name="concat_pad")


def _unet():
    inp = keras.Input((16, 16, 3), name="input")
    e1 = L.Conv2D(8, 3, padding="same", activation="relu", name="enc1")(inp)
    p1 = L.MaxPooling2D(2, name="pool1")(e1)
    e2 = L.Conv2D(16, 3, padding="same", activation="relu", name="enc2")(p1)
    p2 = L.MaxPooling2D(2, name="pool2")(e2)
    b = L.Conv2D(32, 3, padding="same", activation="relu", name="bottleneck")(p2)
    u2 = L.Conv2DTranspose(16, 2, strides=2, padding="same", name="up2")(b)
    d2 = L.Concatenate(name="skip2")([u2, e2])
    d2 = L.Conv2D(16, 3, padding="same", activation="relu", name="dec2")(d2)
    u1 = L.UpSampling2D(2, interpolation="nearest", name="up1")(d2)
    d1 = L.Concatenate(name="skip1")([u1, e1])
    d1 = L.Conv2D(8, 3, padding="same", activation="relu", name="dec1")(d1)
    u0 = L.UpSampling2D(2, interpolation="bilinear", name="up0")(d1)
    out = L.Conv2D(2, 1, activation="sigmoid", name="mask")(u0)
    return keras.Model(inp, out, name="unet")


def _leaky_tanh():
    x = inp = keras.Input((16, 16, 3), name="input")
    x = L.Conv2D(16, 3, strides=2, padding="same", name="conv1")(x)
    x = L.LeakyReLU(0.1, name="leaky")(x)
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="tanh", name="conv2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(10, activation="tanh", name="fc")(x)
    return keras.Model(inp, x, name="leaky_tanh")


def _dilated():
    x = inp = keras.Input((16, 16, 3), name="input")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = L.Conv2D(16, 3, dilation_rate=2, padding="same", activation="relu", name="dilated_same")(x)
    x = L.Conv2D(16, 3, dilation_rate=2, padding="valid", activation="relu", name="dilated_valid")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(10, activation="softmax", name="fc")(x)
    return keras.Model(inp, x, name="dilated")


def _reshape_conv():
    x = inp = keras.Input((16, 16, 3), name="input")
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = L.Reshape((64, 8), name="to_sequence")(x)
    x = L.Dense(4, activation="relu", name="per_step")(x)  # a Dense over the last axis of a 3-D tensor
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(10, activation="softmax", name="fc")(x)
    return keras.Model(inp, x, name="reshape_conv")


def _two_in_two_out():
    img = keras.Input((16, 16, 3), name="a_image")
    vec = keras.Input((8,), name="b_features")
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv1")(img)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    v = L.Dense(16, activation="relu", name="vec_fc")(vec)
    x = L.Concatenate(name="fuse")([x, v])
    cls = L.Dense(10, activation="softmax", name="a_class")(x)
    reg = L.Dense(2, name="b_box")(x)
    return keras.Model([img, vec], [cls, reg], name="two_in_two_out")


def _float_io():
    x = inp = keras.Input((16, 16, 3), name="input")
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    x = L.AveragePooling2D(2, name="pool")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(10, activation="softmax", name="fc")(x)
    return keras.Model(inp, x, name="float_io")


A = keras.applications
_ENTRIES = [
    ZooModel("mobilenet", (APP_SHAPE,), "keras.applications.MobileNet alpha=0.25",
             _app(A.MobileNet, alpha=0.25)),
    ZooModel("mobilenet_v2", (APP_SHAPE,), "keras.applications.MobileNetV2 alpha=0.35",
             _app(A.MobileNetV2, alpha=0.35)),
    ZooModel("mobilenet_v3_small", (APP_SHAPE,), "keras.applications.MobileNetV3Small (hard-swish, SE)",
             _mobilenet_v3_small),
    ZooModel("efficientnet_b0", (APP_SHAPE,), "keras.applications.EfficientNetB0", _app(A.EfficientNetB0),
             heavy=True),
    ZooModel("resnet50", (APP_SHAPE,), "keras.applications.ResNet50", _app(A.ResNet50), heavy=True),
    ZooModel("densenet121", (APP_SHAPE,), "keras.applications.DenseNet121", _app(A.DenseNet121), heavy=True),
    ZooModel("efficientnet_mini", (APP_SHAPE,), "EfficientNet layers at width 0.25, depth 0.25",
             _efficientnet_mini),
    ZooModel("resnet_mini", (APP_SHAPE,), "ResNet50 layers (bottleneck stack1), two 1-block stages",
             _resnet_mini),
    ZooModel("densenet_mini", (APP_SHAPE,), "DenseNet layers, blocks [1, 1, 1, 1]", _densenet_mini),
    ZooModel("gap_head", ((16, 16, 3),), "Conv2D stack, GlobalAveragePooling2D head", _gap_head),
    ZooModel("conv1d_audio", ((64, 10),), "Conv1D/MaxPooling1D over 64 audio frames, GAP1D head", _conv1d_audio),
    ZooModel("squeeze_excite", ((16, 16, 3),), "squeeze-and-excite: GAP, Dense, Dense sigmoid, Multiply",
             _squeeze_excite),
    ZooModel("concat_pad", ((16, 16, 3),), "two branches Concatenate, asymmetric ZeroPadding2D", _concat_pad),
    ZooModel("unet", ((16, 16, 3),), "UNet: Conv2DTranspose, UpSampling2D nearest/bilinear, skip Concatenate",
             _unet),
    ZooModel("leaky_tanh", ((16, 16, 3),), "LeakyReLU and tanh activations", _leaky_tanh),
    ZooModel("dilated", ((16, 16, 3),), "dilated Conv2D, same and valid padding", _dilated),
    ZooModel("reshape_conv", ((16, 16, 3),), "Reshape after Conv2D, Dense over a 3-D tensor", _reshape_conv),
    ZooModel("two_in_two_out", ((16, 16, 3), (8,)), "two inputs (image, vector), two outputs", _two_in_two_out),
    ZooModel("float_io", ((16, 16, 3),), "small CNN converted with float32 input and output", _float_io,
             float_io=True),
]
REGISTRY: dict[str, ZooModel] = {e.name: e for e in _ENTRIES}


def get(name: str) -> ZooModel:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no zoo model {name!r}; choose one of {', '.join(REGISTRY)}") from None


def names(heavy: bool = True) -> list[str]:
    return [n for n, e in REGISTRY.items() if heavy or not e.heavy]
