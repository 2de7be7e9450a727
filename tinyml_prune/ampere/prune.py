"""Prune a quantized model's int8 GEMM weights 2:4 directly in a copy of its flatbuffer.

For third-party int8 models (no Keras source) this is the quickest way to get a 2:4 model:
every CONV_2D / FULLY_CONNECTED weight tensor keeps the two largest-magnitude values of each
group of four along the GEMM K axis (Kh*Kw*Cin flattened in TFLite's layout, i.e. along input
channels when Cin % 4 == 0), nothing is re-trained and
biases and scales are left alone — so accuracy drops, but every layer is then exactly 2:4.
"""
from __future__ import annotations

import numpy as np

from .. import nm
from ..codegen.tflite_patch import replace_buffers
from .execute import GEMM_OPS
from .format import GROUP, prune_2to4
from .graph import load_bytes, read


def prune_model_2to4(tflite) -> bytes:
    tflite = load_bytes(tflite)
    graph = read(tflite)
    new = {}
    for op in graph.ops:
        if op.name not in GEMM_OPS:
            continue
        w = graph.tensors[op.inputs[1]]
        if w.data is not None and w.dtype is np.int8:
            # Groups of four along the GEMM K (= Kh*Kw*Cin flattened; = Cin when Cin % 4 == 0).
            new[w.index] = prune_2to4(w.data.reshape(w.shape[0], -1)).reshape(w.shape)
    return replace_buffers(tflite, new)


def prune_keras_2to4(model) -> list[str]:
    """Zero 2 of every 4 weights along input channels, by magnitude, in a float Keras model (in place).

    Conv2D kernels ``[H, W, Cin, Cout]`` (Cin % 4 == 0 only, like tfmot's 2:4) and Dense kernels
    ``[in, out]``; depthwise convolutions are left dense. Returns the pruned layers' names.
    """
    from ..kerasenv import keras

    pruned = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D) or not isinstance(
                layer, (keras.layers.Conv2D, keras.layers.Dense)):
            continue
        weights = layer.get_weights()
        k = weights[0]
        if isinstance(layer, keras.layers.Conv2D):
            if nm.refusal(k.shape[2], GROUP):
                continue
            kt = np.moveaxis(k, 2, -1)                       # Cin last: [H, W, Cout, Cin]
            weights[0] = np.moveaxis(prune_2to4(kt), -1, 2)
        else:
            weights[0] = prune_2to4(k.T).T                   # [out, in]
        layer.set_weights(weights)
        pruned.append(layer.name)
    return pruned
