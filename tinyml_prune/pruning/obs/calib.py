"""Calibration activations for layer-wise reconstruction: inputs of a layer as a GEMM operand.

Dense: its inputs as they are (rows = samples, or samples × positions for >2-D inputs).
Conv1D/Conv2D: im2col patches (``tf.image.extract_patches``; feature order (kh, kw, cin), the
row-major flattening of the kernel [kh, kw, cin, cout]), so that ``patches @ kernel.reshape(-1, cout)``
is the convolution. DepthwiseConv2D: the same patches split per channel, [rows, kh·kw, C].
Second moments are accumulated in float64, chunk by chunk, with at most ``max_rows`` rows
(a fixed random subset of the output positions when there are more).
"""
from __future__ import annotations

import numpy as np

from ...errors import ModelError
from ...kerasenv import keras, tf
from ..layers import is_depthwise, kernel_variable

L = keras.layers


def check_supported(layer) -> None:
    """Raise a one-line error for a layer the reconstruction cannot express as a GEMM."""
    if isinstance(layer, (L.Conv1D, L.Conv2D)) and not is_depthwise(layer):
        if getattr(layer, "groups", 1) != 1:
            raise ModelError(f"obs: layer {layer.name!r} is a grouped convolution (groups={layer.groups}); "
                             f"choose another criterion or skip it (--skip {layer.name})")
        if layer.padding == "causal":
            raise ModelError(f"obs: layer {layer.name!r} uses causal padding; skip it (--skip {layer.name})")
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise ModelError(f"obs: layer {layer.name!r} is channels_first; only channels_last is supported")
    if len(getattr(layer, "_inbound_nodes", [])) > 1:
        raise ModelError(f"obs: layer {layer.name!r} is called {len(layer._inbound_nodes)} times (shared "
                         f"weights); skip it (--skip {layer.name})")


def has_bias(layer) -> bool:
    return getattr(layer, "bias", None) is not None


def kernel_matrix(layer, kernel: np.ndarray | None = None) -> np.ndarray:
    """Dense/Conv: the d×k GEMM kernel. Depthwise: [kh·kw, C, mult]."""
    k = kernel_variable(layer).numpy() if kernel is None else kernel
    if is_depthwise(layer):
        kh, kw, c, m = k.shape
        return k.reshape(kh * kw, c, m)
    return k.reshape(-1, k.shape[-1])


def patches(layer, x: np.ndarray) -> np.ndarray:
    """The layer's input ``x`` as GEMM rows (see the module docstring)."""
    if isinstance(layer, L.Dense):
        return np.asarray(x).reshape(-1, x.shape[-1])
    x = tf.convert_to_tensor(x)
    if isinstance(layer, L.Conv1D):
        x = tf.expand_dims(x, 1)
        ks, st, rt = (1,) + tuple(layer.kernel_size), (1,) + tuple(layer.strides), (1,) + tuple(layer.dilation_rate)
    else:
        ks, st, rt = tuple(layer.kernel_size), tuple(layer.strides), tuple(layer.dilation_rate)
    p = tf.image.extract_patches(x, sizes=[1, *ks, 1], strides=[1, *st, 1], rates=[1, *rt, 1],
                                 padding=layer.padding.upper()).numpy()
    if is_depthwise(layer):
        c = x.shape[-1]
        return p.reshape(-1, ks[0] * ks[1], c)
    return p.reshape(-1, p.shape[-1])


def with_ones(p: np.ndarray) -> np.ndarray:
    return np.concatenate([p, np.ones(p.shape[:-1] + (1,), p.dtype)], axis=-1)


def input_model(model, layers):
    """A model from ``model``'s inputs to the inputs of ``layers`` (same layer objects)."""
    outs = [l.input for l in layers]
    return keras.Model(model.inputs, outs if len(outs) > 1 else outs[0])


def layer_inputs(model, layer, x: np.ndarray, batch: int = 128) -> np.ndarray:
    sub = input_model(model, [layer])
    return np.concatenate([np.asarray(sub(x[i:i + batch], training=False)) for i in range(0, len(x), batch)])


def row_subset(n_rows: int, max_rows: int, seed: int = 0) -> np.ndarray | None:
    if n_rows <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, max_rows, replace=False))


def gemm_rows(layer, a: np.ndarray, bias: bool, rows: np.ndarray | None) -> np.ndarray:
    p = patches(layer, a)
    if rows is not None:
        p = p[rows]
    p = p.astype(np.float64)
    return with_ones(p) if bias else p


def reestimate_bn(model, bns, x: np.ndarray, batch: int = 128) -> None:
    """Set each BatchNormalization's moving statistics to those of its inputs on ``x``, in order
    (each one sees the already re-estimated upstream)."""
    for bn in bns:
        a = layer_inputs(model, bn, x, batch).astype(np.float64)
        axes = [bn.axis] if isinstance(bn.axis, int) else list(bn.axis)
        axes = [ax % a.ndim for ax in axes]
        red = tuple(i for i in range(a.ndim) if i not in axes)
        bn.moving_mean.assign(a.mean(axis=red).astype(np.float32).reshape(bn.moving_mean.shape))
        bn.moving_variance.assign(a.var(axis=red).astype(np.float32).reshape(bn.moving_variance.shape))


def batchnorms(model) -> list:
    return [l for l in model.layers if isinstance(l, L.BatchNormalization)]
