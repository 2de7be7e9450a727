"""How each supported layer type moves channels, and which weight axes belong to them.

One handler per layer class (exact type: a subclass such as Conv2DTranspose is *not* a
Conv2D here, it is unsupported until it gets its own handler). A handler answers three
questions: how the channel positions of its inputs map to those of its outputs
(``propagate``), which axes of which weights are indexed by input/output channels
(``weight_axes``, used both to slice and to mask), and how its config changes when its
own output channel count changes (``resize``).
"""
from __future__ import annotations

import numpy as np

HANDLERS: dict = {}


def register(*class_names):
    def deco(cls):
        for n in class_names:
            HANDLERS[n] = cls()
        return cls

    return deco


def handler_for(layer):
    """The handler registered for this exact layer class, or None."""
    h = HANDLERS.get(type(layer).__name__)
    if h is None or not h.accepts(layer):
        return None
    return h


def _channels_last(layer) -> str | None:
    fmt = layer.get_config().get("data_format", "channels_last")
    if fmt not in (None, "channels_last"):
        return f"data_format={fmt} (only channels_last is supported)"
    return None


def _is_keras_module(layer) -> bool:
    # A user class that happens to be named "Conv2D" must not be treated as ours.
    return type(layer).__module__.startswith(("tf_keras.", "keras."))


class Handler:
    """Pass-through: output channel i is input channel i; no weights."""

    def accepts(self, layer) -> bool:
        return _is_keras_module(layer)

    def unsupported(self, call) -> str | None:
        """Why this call cannot take part in channel pruning (None: it can)."""
        return _channels_last(call.layer)

    def propagate(self, call, ins, cg):
        return [ins[0]]

    def weight_axes(self, layer):
        """{attribute: [(axis, selector)]}; selector(in_keeps, out_keep) -> bool vector."""
        return {}

    def resize(self, config, out_keep):
        return config

    def fixed_output(self, call) -> str | None:
        """Why this layer's *output* channels must all stay (its inputs may still shrink)."""
        return None

    def macs(self, call) -> int:
        return 0


def _in(i=0, repeat=1):
    return lambda ins, out: np.repeat(ins[i], repeat) if repeat > 1 else ins[i]


def _out(ins, out):
    return out


@register(
    "ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "Cropping1D", "Cropping2D",
    "Cropping3D",
)
class PassThrough(Handler):
    pass


# Element-wise activations: each output channel depends on the same input channel only.
_ELEMENTWISE = {
    "linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "elu", "selu", "swish", "silu",
    "gelu", "softplus", "softsign", "exponential", "mish", "hard_swish", "leaky_relu",
}


def _activation_name(layer) -> str:
    act = layer.get_config().get("activation", "linear")
    if isinstance(act, dict):  # serialised form
        act = act.get("config", {}).get("name", act.get("class_name", "?"))
    return str(act)


def _activation_problem(layer) -> str | None:
    act = _activation_name(layer)
    if act not in _ELEMENTWISE:
        return f"activation {act!r} is not element-wise (it mixes channels)"
    return None


@register("Activation")
class ActivationHandler(Handler):
    def unsupported(self, call):
        return _activation_problem(call.layer)


@register("PReLU")
class PReLUHandler(Handler):
    def weight_axes(self, layer):
        if layer.alpha.shape[-1] == 1:  # shared over the channel axis
            return {}
        return {"alpha": [(-1, _in())]}


@register("BatchNormalization")
class BatchNormHandler(Handler):
    def unsupported(self, call):
        axis = call.layer.axis
        axis = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        rank = len(call.input_shapes[0])
        if [a % rank for a in axis] != [rank - 1]:
            return f"normalises over axis {axis}, not the channel (last) axis"
        return None

    def weight_axes(self, layer):
        return {a: [(0, _in())] for a in ("gamma", "beta", "moving_mean", "moving_variance")}


class ProducerHandler(Handler):
    """Conv / Dense: consumes input channels, produces fresh output channels."""

    count_key = "filters"

    def unsupported(self, call):
        return _channels_last(call.layer)

    def fixed_output(self, call):
        # e.g. a softmax classifier: removing an output would change every other output.
        return _activation_problem(call.layer)

    def propagate(self, call, ins, cg):
        return [cg.new_source(call, call.output_shapes[0][-1])]

    def resize(self, config, out_keep):
        config = dict(config)
        config[self.count_key] = int(np.count_nonzero(out_keep))
        return config


@register("Conv1D", "Conv2D", "Conv3D")
class ConvHandler(ProducerHandler):
    def unsupported(self, call):
        if call.layer.groups != 1:
            return f"grouped convolution (groups={call.layer.groups})"
        return super().unsupported(call)

    def weight_axes(self, layer):
        return {"kernel": [(-2, _in()), (-1, _out)], "bias": [(0, _out)]}

    def macs(self, call):
        k = call.layer.kernel.shape
        return int(np.prod(call.output_shapes[0][1:]) * np.prod(k[:-1]))


@register("Dense")
class DenseHandler(ProducerHandler):
    count_key = "units"

    def unsupported(self, call):
        return None

    def weight_axes(self, layer):
        return {"kernel": [(0, _in()), (1, _out)], "bias": [(0, _out)]}

    def macs(self, call):
        return int(np.prod(call.output_shapes[0][1:]) * call.input_shapes[0][-1])


@register("SeparableConv1D", "SeparableConv2D")
class SeparableConvHandler(ProducerHandler):
    def weight_axes(self, layer):
        m = layer.depth_multiplier
        return {
            "depthwise_kernel": [(-2, _in())],
            "pointwise_kernel": [(-2, _in(0, m)), (-1, _out)],
            "bias": [(0, _out)],
        }

    def macs(self, call):
        layer = call.layer
        spatial = int(np.prod(call.output_shapes[0][1:-1]))
        dw = layer.depthwise_kernel.shape
        return int(spatial * np.prod(dw) + spatial * np.prod(layer.pointwise_kernel.shape))


@register("DepthwiseConv1D", "DepthwiseConv2D")
class DepthwiseHandler(Handler):
    """Output channel c*m + j comes from input channel c: it loses the same channels."""

    def unsupported(self, call):
        return _channels_last(call.layer) or _activation_problem(call.layer)

    def propagate(self, call, ins, cg):
        return [np.repeat(ins[0], call.layer.depth_multiplier)]

    def weight_axes(self, layer):
        return {"depthwise_kernel": [(-2, _in())], "bias": [(0, _out)]}

    def macs(self, call):
        k = call.layer.depthwise_kernel.shape
        return int(np.prod(call.output_shapes[0][1:-1]) * np.prod(k))


def _broadcast_problem(call) -> str | None:
    widths = {s[-1] for s in call.input_shapes}
    if len(widths - {1}) > 1:
        return f"inputs with different channel counts {sorted(widths)} (broadcasting)"
    return None


def _merge_channels(call, ins, cg):
    """Channel i of every full-width input is one channel (a residual Add, an SE gate and the
    tensor it scales). An input with one channel broadcast over all of them (a spatial
    attention map) is not coupled, and its single channel stays."""
    widths = [s[-1] for s in call.input_shapes]
    wide = max(widths)
    full = [x for x, w in zip(ins, widths) if w == wide]
    if wide > 1:
        for x, w in zip(ins, widths):
            if w == 1:
                cg.exclude(x, f"layer {call.name!r} ({type(call.layer).__name__}) broadcasts this single "
                              "channel over all channels")
    for other in full[1:]:
        cg.couple(full[0], other)
    return [full[0]]


@register("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
class ElementwiseMerge(Handler):
    """Residual-style merges and SE gates (``x * gate``, gate [N, 1, 1, C] or [N, C]) tie
    channel i of every input together."""

    def unsupported(self, call):
        return _broadcast_problem(call)

    def propagate(self, call, ins, cg):
        return _merge_channels(call, ins, cg)


# tf.* functions recorded as TFOpLambda layers (``x + 3.0``, ``tf.nn.relu6(x)``,
# ``tf.math.multiply(x, gate)``) that work element by element.
_ELEMENTWISE_OPS = {
    "__operators__.add", "math.add", "math.add_n", "math.subtract", "math.multiply", "math.truediv",
    "math.divide", "__operators__.truediv", "math.negative", "math.maximum", "math.minimum",
    "nn.relu", "nn.relu6", "math.sigmoid", "nn.sigmoid", "math.tanh", "nn.silu", "nn.swish",
    "math.square", "math.sqrt", "math.rsqrt", "math.exp", "math.abs", "nn.leaky_relu", "nn.elu",
    "nn.gelu", "math.softplus", "clip_by_value", "identity", "cast",
}


def _constants(obj):
    """Non-scalar constants among a TFOpLambda's keyword arguments (tensor refs excluded)."""
    if isinstance(obj, dict):
        return [c for v in obj.values() for c in _constants(v)]
    if isinstance(obj, list):
        if len(obj) == 3 and isinstance(obj[0], str) and isinstance(obj[1], int):
            return []  # a tensor reference
        return [obj]
    return []


@register("TFOpLambda")
class TFOpHandler(Handler):
    """Element-wise tf.* calls with scalar constants: pass-through, or a merge of tensors."""

    def unsupported(self, call):
        fn = call.layer.get_config().get("function", "?")
        if fn not in _ELEMENTWISE_OPS:
            return f"tf.{fn} is not an element-wise operation channel pruning can follow"
        if _constants(call.kwargs):
            return f"tf.{fn} has a non-scalar constant argument (it would need slicing)"
        return _broadcast_problem(call)

    def propagate(self, call, ins, cg):
        return _merge_channels(call, ins, cg)


@register("Reshape")
class ReshapeHandler(Handler):
    """A reshape that keeps the last axis (``(C,) -> (1, 1, C)``, ``(H, W, C) -> (H*W, C)``)
    passes channels through; a reshape to one flat axis is a Flatten. Anything else moves
    channel elements across positions and is refused."""

    def _kind(self, call):
        src, dst = call.input_shapes[0], call.output_shapes[0]
        if any(d is None for d in src[1:]) or any(d is None for d in dst[1:]):
            return None
        if dst[-1] == src[-1]:
            return "keep"
        if len(dst) == 2 and dst[-1] == int(np.prod(src[1:])):
            return "flatten"
        return None

    def unsupported(self, call):
        if self._kind(call) is None:
            return (f"reshape {tuple(call.input_shapes[0][1:])} -> {tuple(call.output_shapes[0][1:])} "
                    "does not keep the channel axis")
        return None

    def propagate(self, call, ins, cg):
        if self._kind(call) == "flatten":
            return FlattenHandler.propagate(self, call, ins, cg)
        return [ins[0]]

    def resize(self, config, out_keep):
        config = dict(config)
        target = list(config["target_shape"])
        if len(target) == 1 or target[-1] != -1:
            if len(target) == 1:
                target = [int(np.count_nonzero(out_keep))]
            else:
                target[-1] = int(np.count_nonzero(out_keep))
        config["target_shape"] = tuple(target)
        return config


@register("Rescaling")
class RescalingHandler(Handler):
    def unsupported(self, call):
        cfg = call.layer.get_config()
        if any(np.ndim(cfg.get(k, 0)) > 0 and np.size(cfg.get(k, 0)) > 1 for k in ("scale", "offset")):
            return "per-channel scale/offset in its config"
        return None


@register("Normalization")
class NormalizationHandler(Handler):
    """Pass-through, but its statistics are kept whole (usually right after the model input)."""

    def fixed_output(self, call):
        return "its per-channel statistics are kept whole"


@register("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
class ConvTransposeHandler(ProducerHandler):
    """Kernel [..spatial.., out, in]: output channels on axis -2, input channels on axis -1."""

    def weight_axes(self, layer):
        return {"kernel": [(-1, _in()), (-2, _out)], "bias": [(0, _out)]}

    def macs(self, call):
        return int(np.prod(call.input_shapes[0][1:-1]) * np.prod(call.layer.kernel.shape))


@register("Concatenate")
class ConcatHandler(Handler):
    def unsupported(self, call):
        rank = len(call.input_shapes[0])
        axis = call.layer.axis % rank
        if axis == 0:
            return "concatenates along the batch axis"
        if axis != rank - 1 and len({s[-1] for s in call.input_shapes}) != 1:
            return "concatenates along a non-channel axis with different channel counts"
        return None

    def propagate(self, call, ins, cg):
        rank = len(call.input_shapes[0])
        if call.layer.axis % rank == rank - 1:  # channels follow each other at offsets
            return [np.concatenate(ins)]
        for other in ins[1:]:  # stacked along space: channel i of every input is one channel
            cg.couple(ins[0], other)
        return [ins[0]]


@register("Flatten")
class FlattenHandler(Handler):
    """(H, W, C) -> H*W*C features, channel fastest: each channel becomes H*W positions."""

    def unsupported(self, call):
        if any(d is None for d in call.input_shapes[0][1:]):
            return f"input shape {call.input_shapes[0]} is not static"
        return _channels_last(call.layer)

    def propagate(self, call, ins, cg):
        spatial = int(np.prod(call.input_shapes[0][1:-1])) if len(call.input_shapes[0]) > 2 else 1
        return [np.tile(ins[0], spatial)]
