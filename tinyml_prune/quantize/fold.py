"""Fold BatchNormalization and separate ReLU layers into the Conv2D/Dense before them.

Why before QAT: tfmot gives a Conv2D/Dense that feeds a separate ``ReLU``/``Activation('relu')``
layer a no-op quantize config (its weights escape fake-quantization and prune-preserving QAT
drops its zeros, measured). After folding, the activation is the layer's own
``activation`` and the BN is in its kernel and bias, which is also what the TFLite converter
would produce anyway; QAT then trains exactly the weights that end up in the int8 file.

Folding multiplies each output channel by ``gamma / sqrt(var + eps)``: a zero stays a zero and
an N:M group along the input-channel axis keeps its pattern.

The rewrite works on the functional config (layer names and inbound nodes), so the result is
an ordinary functional model whose layers keep the original names.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError
from ..kerasenv import keras
from ..pruning.channel.graph import node_refs

WEIGHTED = ("Conv2D", "DepthwiseConv2D", "Dense")
FOLDABLE_ACTIVATIONS = ("relu", "relu6")


@dataclass(frozen=True)
class FoldLog:
    """What was folded: ``bn[layer] = bn_name``, ``activation[layer] = (layer_name, fn)``."""

    bn: dict = field(default_factory=dict)
    activation: dict = field(default_factory=dict)
    dropped: tuple = ()

    def describe(self) -> list[str]:
        lines = [f"{bn} folded into {layer}" for layer, bn in self.bn.items()]
        lines += [f"{act} ({fn}) folded into {layer}" for layer, (act, fn) in self.activation.items()]
        return lines


def _as_functional(model):
    if isinstance(model, keras.Sequential):
        if not model.built or not model.inputs:
            raise ModelError(f"model {model.name!r}: a Sequential model must be built with an input shape")
        return keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def _refs(config, node) -> list:
    """The tensor references of one inbound node (TFOpLambda nodes have their own form)."""
    return node_refs(node, {l["name"] for l in config["layers"]})


def _consumers(config) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for layer in config["layers"]:
        for node in layer["inbound_nodes"]:
            for ref in _refs(config, node):
                out.setdefault(ref[0], []).append(layer["name"])
    for ref in config["output_layers"]:
        out.setdefault(ref[0], []).append("<output>")
    return out


def _single_input(config, layer_cfg):
    nodes = layer_cfg["inbound_nodes"]
    if len(nodes) != 1:
        return None
    refs = _refs(config, nodes[0])
    return refs[0] if len(refs) == 1 else None


def _relu_kind(layer_cfg) -> str | None:
    """'relu' / 'relu6' if this standalone layer is exactly that activation, else None."""
    cls, cfg = layer_cfg["class_name"], layer_cfg["config"]
    if cls == "ReLU":
        if float(cfg.get("negative_slope") or 0) != 0 or float(cfg.get("threshold") or 0) != 0:
            return None
        mv = cfg.get("max_value")
        if mv is None:
            return "relu"
        return "relu6" if float(mv) == 6.0 else None
    if cls == "Activation" and cfg.get("activation") in FOLDABLE_ACTIVATIONS:
        return cfg["activation"]
    return None


def _bn_scale_shift(bn) -> tuple[np.ndarray, np.ndarray]:
    axis = bn.axis if isinstance(bn.axis, (list, tuple)) else [bn.axis]
    rank = len(bn.input_shape)
    if len(axis) != 1 or axis[0] % rank != rank - 1:
        raise ModelError(f"layer {bn.name!r}: BatchNormalization over axis {bn.axis} cannot be folded "
                         "(only the channel axis, -1)")
    var = bn.moving_variance.numpy()
    gamma = bn.gamma.numpy() if bn.gamma is not None else np.ones_like(var)
    beta = bn.beta.numpy() if bn.beta is not None else np.zeros_like(var)
    scale = gamma / np.sqrt(var + bn.epsilon)
    return scale, beta - bn.moving_mean.numpy() * scale


def _fold_bn_weights(layer, kernel, bias, scale, shift):
    """Kernel/bias of ``layer`` followed by BN (per output channel ``scale``, ``shift``)."""
    if type(layer).__name__ == "DepthwiseConv2D":
        h, w, c, m = kernel.shape
        kernel = (kernel.reshape(h, w, c * m) * scale).reshape(h, w, c, m)
    else:
        kernel = kernel * scale  # out channels are the last axis for Conv2D and Dense
    bias = np.zeros_like(scale) if bias is None else bias
    return kernel.astype(np.float32), (bias * scale + shift).astype(np.float32)


def fold_model(model):
    """Return ``(folded_model, FoldLog)``; the input model is not modified."""
    model = _as_functional(model)
    config = copy.deepcopy(model.get_config())
    by_name = {l["name"]: l for l in config["layers"]}
    weights = {l.name: [w.copy() for w in l.get_weights()] for l in model.layers}
    folded_bn, folded_act = {}, {}
    while _fold_one(model, config, by_name, weights, folded_bn, folded_act):
        pass
    if not folded_bn and not folded_act:
        return model, FoldLog()
    try:
        new = keras.Model.from_config(config)
    except Exception as e:  # noqa: BLE001 - a model we could read but not rebuild
        raise ModelError(f"model {model.name!r}: cannot rebuild after folding BN/ReLU: {e}") from None
    for layer in new.layers:
        if weights.get(layer.name):
            layer.set_weights(weights[layer.name])
    return new, FoldLog(bn=folded_bn, activation=folded_act)


def _fold_one(model, config, by_name: dict, weights: dict, folded_bn: dict, folded_act: dict) -> bool:
    """Fold the first BN or ReLU that directly and only follows a linear Conv2D/DepthwiseConv2D/Dense
    into it (``config``, ``weights`` and the logs are updated); False when there is none left."""
    consumers = _consumers(config)
    for lcfg in list(config["layers"]):
        name = lcfg["name"]
        if name not in by_name:
            continue
        ref = _single_input(config, lcfg)
        if ref is None or ref[0] not in by_name:
            continue
        prev = by_name[ref[0]]
        if prev["class_name"] not in WEIGHTED or consumers.get(prev["name"]) != [name]:
            continue
        if len(prev["inbound_nodes"]) != 1:  # shared layer
            continue
        pcfg = prev["config"]
        if lcfg["class_name"] == "BatchNormalization" and pcfg.get("activation", "linear") == "linear":
            scale, shift = _bn_scale_shift(model.get_layer(name))
            w = weights[prev["name"]]
            bias = w[1] if pcfg.get("use_bias") else None
            kernel, bias = _fold_bn_weights(model.get_layer(prev["name"]), w[0], bias, scale, shift)
            weights[prev["name"]] = [kernel, bias]
            pcfg["use_bias"] = True
            folded_bn[prev["name"]] = name
        elif _relu_kind(lcfg) and pcfg.get("activation", "linear") == "linear":
            pcfg["activation"] = _relu_kind(lcfg)
            folded_act[prev["name"]] = (name, pcfg["activation"])
        else:
            continue
        _splice_out(config, by_name, name, ref)
        return True
    return False


def _splice_out(config, by_name: dict, name: str, source_ref) -> None:
    """Remove layer ``name``; its consumers read ``source_ref`` instead."""
    for l in config["layers"]:
        for node in l["inbound_nodes"]:
            for ref in _refs(config, node):
                if ref[0] == name:
                    ref[0], ref[1], ref[2] = source_ref[0], source_ref[1], source_ref[2]
    for ref in config["output_layers"]:
        if ref[0] == name:
            ref[0], ref[1], ref[2] = source_ref[0], source_ref[1], source_ref[2]
    config["layers"].remove(by_name.pop(name))


def unfused_activations(model) -> list[str]:
    """Weighted layers still feeding a standalone ReLU/ReLU6 (tfmot's Conv/Dense + ReLU
    transforms would give them a no-op config and skip their fake-quant). Other activations
    (swish, hard-swish, sigmoid, LeakyReLU) match no such transform and are quantized on
    their own, so they may stay separate layers."""
    bad = []
    for layer in model.layers:
        if type(layer).__name__ not in ("ReLU", "Activation"):
            continue
        if _relu_kind({"class_name": type(layer).__name__, "config": layer.get_config()}) is None:
            continue
        for node in layer._inbound_nodes:
            for src in node.inbound_layers if isinstance(node.inbound_layers, list) else [node.inbound_layers]:
                if type(src).__name__ in WEIGHTED:
                    bad.append(f"{src.name} -> {layer.name}")
    return bad
