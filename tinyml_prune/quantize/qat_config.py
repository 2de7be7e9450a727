"""Our tfmot QuantizeConfig for Conv2D, DepthwiseConv2D and Dense in QAT.

Differences from tfmot's default 8-bit configs, each for a reason:

* **per-channel weights for every weighted layer** — tfmot quantizes Dense per tensor; a Dense
  whose output units differ in magnitude then wastes most of its int8 codes;
* **the pruning mask is a frozen variable** — like tfmot's prune-preserve quantizer the kernel
  is multiplied by it, so pruned weights stay exactly zero through training;
* **a kept weight never rounds to zero** — a surviving weight smaller than half a quantization
  step is pushed to ±1 step, so the zeros of the int8 file are *exactly* the pruner's zeros
  (no accidental extra sparsity that the sparsity report could not explain);
* DepthwiseConv2D ranges are per (input channel × multiplier), the TFLite output channel.
"""
from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot

from ..kerasenv import keras, tf

QuantizeConfig = tfmot.quantization.keras.QuantizeConfig
Quantizer = tfmot.quantization.keras.quantizers.Quantizer
MovingAverageQuantizer = tfmot.quantization.keras.quantizers.MovingAverageQuantizer

# A surviving weight below half a step (times this margin) is nudged to one step. The margin
# keeps weights at exactly 0.5 step from rounding to zero in the converter's own arithmetic.
NUDGE_MARGIN = 1.001


def _channels_last(w, depthwise: bool, transpose: bool = False):
    """View the kernel as [..., out_channels]."""
    if depthwise:  # [H, W, C, M] -> [H, W, C*M] ([W, C, M] -> [W, C*M] for 1-D)
        s = tf.shape(w)
        rank = len(w.shape)
        return tf.reshape(w, tf.concat([s[: rank - 2], [s[rank - 2] * s[rank - 1]]], 0))
    if transpose:  # [..., out, in] -> [..., in, out]
        rank = len(w.shape)
        return tf.transpose(w, list(range(rank - 2)) + [rank - 1, rank - 2])
    return w


def _restore(q, inputs, depthwise: bool, transpose: bool):
    if depthwise:
        return tf.reshape(q, tf.shape(inputs))
    if transpose:
        rank = len(q.shape)
        return tf.transpose(q, list(range(rank - 2)) + [rank - 1, rank - 2])
    return q


def _np_channels_last(k: np.ndarray, depthwise: bool, transpose: bool) -> np.ndarray:
    if depthwise:
        return k.reshape(*k.shape[:-2], -1)
    if transpose:
        return np.swapaxes(k, -1, -2)
    return k


class SparsePerChannelWeightQuantizer(Quantizer):
    """Symmetric narrow-range int8, one scale per output channel, sparsity kept exactly."""

    def __init__(self, depthwise: bool = False, per_tensor: bool = False, on_grid: bool = False,
                 transpose: bool = False):
        self.depthwise = depthwise
        self.per_tensor = per_tensor
        self.on_grid = on_grid
        self.transpose = transpose  # Conv*Transpose: kernel [..., out, in]

    def build(self, tensor_shape, name, layer):
        kernel = getattr(layer.layer, name).numpy()
        flat = _np_channels_last(kernel, self.depthwise, self.transpose)
        n = int(flat.shape[-1])
        absmax = np.abs(flat).reshape(-1, n).max(axis=0)
        if self.per_tensor:
            n, absmax = 1, absmax.max(keepdims=True)
        mask = layer.add_weight(
            name + "_mask", shape=tensor_shape, trainable=False,
            initializer=keras.initializers.Constant((kernel != 0).astype(np.float32)))
        max_var = layer.add_weight(
            name + "_max", shape=(n,), trainable=False,
            initializer=keras.initializers.Constant(np.maximum(absmax, 1e-8).astype(np.float32)))
        return {"mask": mask, "max_var": max_var}

    def __call__(self, inputs, training, weights, **kwargs):
        if self.on_grid and not training:
            return inputs  # snap_to_grid() has put the kernel on the int8 grid already
        w = inputs * weights["mask"]
        flat = _channels_last(w, self.depthwise, self.transpose)
        axes = list(range(len(flat.shape) - (0 if self.per_tensor else 1)))
        if training:
            absmax = tf.maximum(tf.reduce_max(tf.abs(flat), axis=axes), 1e-8)
            weights["max_var"].assign(absmax)
        else:
            absmax = weights["max_var"]
        step = absmax / 127.0
        mask_flat = _channels_last(weights["mask"], self.depthwise, self.transpose)
        tiny = tf.logical_and(mask_flat > 0, tf.abs(flat) < 0.5 * step * NUDGE_MARGIN)
        nudged = tf.where(tiny, tf.where(flat >= 0, step, -step), flat)
        # Straight-through: the forward pass sees the nudged value, the gradient the raw one.
        flat = flat + tf.stop_gradient(nudged - flat)
        if self.per_tensor:
            absmax = tf.reshape(absmax, [1])
            q = tf.quantization.fake_quant_with_min_max_vars(
                flat, -absmax[0], absmax[0], num_bits=8, narrow_range=True)
        elif self.on_grid:
            # Dense: a per-channel FakeQuant on [in, out] cannot pass the converter's transpose to
            # [out, in] (and it does not constant-fold our own rounding either). So training
            # rounds here, and before conversion snap_to_grid() stores the rounded kernel: the
            # converter then derives exactly these per-channel scales from the constant.
            grid = tf.clip_by_value(tf.round(flat / step), -127.0, 127.0) * step
            q = flat + tf.stop_gradient(grid - flat)
        else:
            q = tf.quantization.fake_quant_with_min_max_vars_per_channel(
                flat, -absmax, absmax, num_bits=8, narrow_range=True)
        return _restore(q, inputs, self.depthwise, self.transpose)

    def get_config(self):
        return {"depthwise": self.depthwise, "per_tensor": self.per_tensor, "on_grid": self.on_grid,
                "transpose": self.transpose}

    def __eq__(self, other):
        return isinstance(other, SparsePerChannelWeightQuantizer) and other.get_config() == self.get_config()

    def __ne__(self, other):
        return not self.__eq__(other)


class SparseLayerQuantizeConfig(QuantizeConfig):
    """Kernel: ``SparsePerChannelWeightQuantizer``; the (fused) activation output: asymmetric int8."""

    def __init__(self, weight_attr: str = "kernel", depthwise: bool = False, per_tensor: bool = False,
                 on_grid: bool = False, transpose: bool = False):
        self.weight_attr = weight_attr
        self.depthwise = depthwise
        self.per_tensor = per_tensor
        self.on_grid = on_grid
        self.transpose = transpose

    def get_weights_and_quantizers(self, layer):
        q = SparsePerChannelWeightQuantizer(self.depthwise, self.per_tensor, self.on_grid, self.transpose)
        return [(getattr(layer, self.weight_attr), q)]

    def _output_quantized(self, layer) -> bool:
        # tfmot's QuantizeAwareActivation rejects relu6; quantize the layer output instead.
        return getattr(layer.activation, "__name__", "") == "relu6"

    def get_activations_and_quantizers(self, layer):
        if self._output_quantized(layer):
            return []
        return [(layer.activation, _activation_quantizer())]

    def set_quantize_weights(self, layer, quantize_weights):
        setattr(layer, self.weight_attr, quantize_weights[0])

    def set_quantize_activations(self, layer, quantize_activations):
        if quantize_activations:
            layer.activation = quantize_activations[0]

    def get_output_quantizers(self, layer):
        return [_activation_quantizer()] if self._output_quantized(layer) else []

    def get_config(self):
        return {"weight_attr": self.weight_attr, "depthwise": self.depthwise, "per_tensor": self.per_tensor,
                "on_grid": self.on_grid, "transpose": self.transpose}


class OutputQuantizeConfig(QuantizeConfig):
    """No weights to fake-quantize; the layer's output gets an asymmetric int8 range.

    For layers tfmot's default registry refuses although int8 TFLite runs them as ordinary
    element-wise ops: Multiply (SE gates, hard-swish), Rescaling, Normalization, a standalone
    BatchNormalization (MUL + ADD with per-channel constants), our ``ScalarOp``."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [_activation_quantizer()]

    def get_config(self):
        return {}


def grid_values(kernel: np.ndarray, mask: np.ndarray, absmax: np.ndarray) -> np.ndarray:
    """The int8 codes (as float) our quantizer gives ``kernel`` (channels last, 2-D or 4-D)."""
    step = (absmax / 127.0).astype(np.float32)
    w = kernel * mask
    tiny = (mask > 0) & (np.abs(w) < 0.5 * step * NUDGE_MARGIN)
    w = np.where(tiny, np.where(w >= 0, step, -step), w)
    return np.clip(np.round(w / step), -127, 127)


def snap_to_grid(qat_model) -> int:
    """Store every on-grid (Dense) kernel as its int8 values times the step; returns how many."""
    n = 0
    for layer in qat_model.layers:
        for kernel, quantizer, qvars in getattr(layer, "_weight_vars", []):
            if not isinstance(quantizer, SparsePerChannelWeightQuantizer) or not quantizer.on_grid:
                continue
            mask = qvars["mask"].numpy()
            k = kernel.numpy()
            shape = k.shape
            # one scale per output channel: [H, W, C, M] -> [H, W, C*M]; transposed [.., O, I] -> [.., I, O]
            k = _np_channels_last(k, quantizer.depthwise, quantizer.transpose)
            mask = _np_channels_last(mask, quantizer.depthwise, quantizer.transpose)
            # The final kernel's own range: nothing clips, and the converter finds the same maximum.
            absmax = np.maximum(np.abs(k * mask).max(axis=tuple(range(k.ndim - 1))), 1e-8)
            step = (absmax / 127.0).astype(np.float32)
            snapped = (grid_values(k, mask, absmax) * step).astype(np.float32)
            if quantizer.transpose:
                snapped = np.swapaxes(snapped, -1, -2)
            kernel.assign(snapped.reshape(shape))
            n += 1
    return n


def _activation_quantizer():
    return MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)


def config_for(layer, dense_per_channel: bool = True) -> SparseLayerQuantizeConfig | None:
    kind = type(layer).__name__
    # Every kernel goes through the on-grid path: the converter then quantizes the snapped
    # constants itself (per channel). A per-channel FakeQuant on conv kernels is left
    # unconverted by TF 2.21 on some graphs (seen on the dense ResNet digits model).
    if kind in ("Conv1D", "Conv2D"):
        return SparseLayerQuantizeConfig("kernel", on_grid=True)
    if kind in ("Conv1DTranspose", "Conv2DTranspose"):
        return SparseLayerQuantizeConfig("kernel", on_grid=True, transpose=True)
    if kind == "Dense":
        return SparseLayerQuantizeConfig("kernel", per_tensor=not dense_per_channel, on_grid=dense_per_channel)
    if kind in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return SparseLayerQuantizeConfig("depthwise_kernel", depthwise=True, on_grid=True)
    return None


CUSTOM_OBJECTS = {
    "SparseLayerQuantizeConfig": SparseLayerQuantizeConfig,
    "SparsePerChannelWeightQuantizer": SparsePerChannelWeightQuantizer,
    "OutputQuantizeConfig": OutputQuantizeConfig,
}
