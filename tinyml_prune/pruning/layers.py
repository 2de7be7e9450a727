"""Which layers carry prunable weights, and the axes that pruning talks about.

Kernel layouts (tf_keras):
  Dense            [in, out]
  Conv1D / Conv2D  [..spatial.., Cin/groups, Cout]
  DepthwiseConv2D  [H, W, C, multiplier]
  Conv*Transpose   [..spatial.., Cout, Cin]   (TFLite TRANSPOSE_CONV: [Cout, H, W, Cin])
The *input-channel axis* (N:M groups run along it) is ``ndim - 2`` for Dense and Conv: it is the
innermost, contiguous axis of TFLite's weight layout (Conv [Cout,H,W,Cin], FC [out,in]).
The *output-channel axis* (one entry per filter) is the last axis; for a depthwise kernel the
channels are axis 2 (each channel's filter is a [H, W, multiplier] slice).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from ..kerasenv import keras

L = keras.layers


def is_depthwise(layer) -> bool:
    return isinstance(layer, L.DepthwiseConv2D)


_TRANSPOSED = tuple(getattr(L, n) for n in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
                    if hasattr(L, n))


def is_transposed(layer) -> bool:
    """A transposed convolution: its kernel is [..spatial.., out, in]."""
    return isinstance(layer, _TRANSPOSED)


def kernel_variable(layer):
    """The weight tensor we prune (None if the layer has none or is not built)."""
    if is_depthwise(layer):
        return getattr(layer, "depthwise_kernel", None)
    if isinstance(layer, (L.Dense, L.Conv1D, L.Conv2D)):
        return getattr(layer, "kernel", None)
    return None


def prunable_layers(model, include_depthwise: bool = True) -> list:
    """Layers with a prunable kernel, in model order (top level of a functional/sequential model)."""
    out = []
    for layer in model.layers:
        if kernel_variable(layer) is None:
            continue
        if is_depthwise(layer) and not include_depthwise:
            continue
        out.append(layer)
    return out


def input_channel_axis(layer) -> int | None:
    """Axis N:M groups run along; None where there is no input-channel reduction (depthwise)."""
    if is_depthwise(layer):
        return None
    rank = kernel_variable(layer).shape.rank
    return rank - 1 if is_transposed(layer) else rank - 2


def output_channel_axis(layer) -> int:
    if is_depthwise(layer):
        return 2
    rank = kernel_variable(layer).shape.rank
    return rank - 2 if is_transposed(layer) else rank - 1


def channel_reduce(element_scores: np.ndarray, layer) -> np.ndarray:
    """Sum per-element scores over everything but the output-channel axis."""
    axis = output_channel_axis(layer)
    others = tuple(a for a in range(element_scores.ndim) if a != axis)
    return element_scores.sum(axis=others)


def resolve_skip(model, skip: tuple[str, ...] | list[str], include_depthwise: bool = True) -> set[str]:
    """Names of layers to leave dense: 'first' / 'last' (prunable layers) or layer names."""
    layers = prunable_layers(model, include_depthwise)
    names = [l.name for l in layers]
    all_names = {l.name for l in model.layers}
    out: set[str] = set()
    for item in skip:
        item = item.strip()
        if not item:
            continue
        if item == "first" and names:
            out.add(names[0])
        elif item == "last" and names:
            out.add(names[-1])
        elif item in all_names:
            out.add(item)
        else:
            raise ModelError(f"--skip: no layer named {item!r} in model {model.name!r} "
                             f"(prunable layers: {', '.join(names) or 'none'})")
    return out


@dataclass(frozen=True)
class LayerCost:
    params: int
    macs: int


def layer_cost(layer, kernel: np.ndarray | None = None) -> LayerCost:
    """Parameters and multiply-accumulates of one inference; with ``kernel``, count only its nonzeros.

    MACs scale with the kernel's nonzeros. For a depthwise kernel [H,W,C,mult] every element is
    likewise used once per output position.
    """
    var = kernel_variable(layer)
    w = var.numpy() if kernel is None else kernel
    nnz = int(np.count_nonzero(w)) if kernel is not None else int(w.size)
    bias = getattr(layer, "bias", None)
    nbias = int(np.prod(bias.shape)) if bias is not None else 0
    out_shape = layer.input_shape if is_transposed(layer) else layer.output_shape  # transposed: per input position
    if isinstance(out_shape, list):
        out_shape = out_shape[0]
    # one use of every kernel element per output position (conv: spatial; Dense: 1 for 2-D input)
    positions = int(np.prod([d for d in out_shape[1:-1] if d is not None] or [1]))
    return LayerCost(params=nnz + nbias, macs=nnz * positions)
