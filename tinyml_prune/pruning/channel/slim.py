"""Physical slimming (and its masked twin) from a set of kept channels.

Both walk the same ``weight_axes`` of each handler: slimming *takes* the kept indices along
every channel axis, masking *zeroes* the removed ones. With the same plan the two models
compute the same function (the masked model only carries zeros the slim one drops), which
is the property the tests check.
"""
from __future__ import annotations

import copy

import numpy as np

from ...errors import ModelError
from .dependency import ChannelGraph
from .handlers import handler_for


def _keeps(cgraph: ChannelGraph, call, keep_roots):
    ins = [cgraph.keep_mask(k, keep_roots) for k in call.inputs]
    out = cgraph.keep_mask(call.outputs[0], keep_roots) if call.outputs else None
    return ins, out


def _weight_edits(cgraph: ChannelGraph, keep_roots):
    """Yield (call, handler, {weight index: [(axis, bool mask)]}, out_keep) for every layer
    that loses channels anywhere."""
    for call in cgraph.graph.calls:
        handler = handler_for(call.layer)
        if handler is None or call.name in cgraph.unsupported or call.class_name == "InputLayer":
            continue
        ins, out = _keeps(cgraph, call, keep_roots)
        if all(m.all() for m in ins) and (out is None or out.all()):
            continue
        edits = {}
        weights = call.layer.weights
        for attr, axes in handler.weight_axes(call.layer).items():
            var = getattr(call.layer, attr, None)
            if var is None:
                continue
            idx = next((i for i, w in enumerate(weights) if w is var), None)
            if idx is None:
                raise ModelError(f"layer {call.name!r}: weight {attr!r} not found among its weights")
            edits[idx] = [(axis, sel(ins, out)) for axis, sel in axes]
        yield call, handler, edits, out


def mask_model(model, cgraph: ChannelGraph, keep_roots):
    """A copy of ``model`` with every weight that slimming would remove set to zero."""
    from ...kerasenv import keras

    masked = keras.models.clone_model(cgraph_model(model))
    masked.set_weights(cgraph_model(model).get_weights())
    for call, _, edits, _ in _weight_edits(cgraph, keep_roots):
        layer = masked.get_layer(call.name)
        ws = layer.get_weights()
        for i, axes in edits.items():
            w = ws[i].copy()
            for axis, keep in axes:
                shape = [1] * w.ndim
                shape[axis] = -1
                w = w * keep.reshape(shape).astype(w.dtype)
            ws[i] = w
        layer.set_weights(ws)
    return masked


def slim_model(model, cgraph: ChannelGraph, keep_roots):
    """A new, physically smaller model: the same graph with fewer channels and the kept
    slices of every weight."""
    from ...kerasenv import keras

    config = copy.deepcopy(cgraph.graph.config)
    entries = {e["config"]["name"]: e for e in config["layers"]}
    new_weights = {}
    for call, handler, edits, out in _weight_edits(cgraph, keep_roots):
        if out is not None and not out.any():
            raise ModelError(f"layer {call.name!r} would keep none of its {out.size} output channels")
        entry = entries[call.name]
        entry["config"] = handler.resize(entry["config"], out)
        entry.pop("build_config", None)
        ws = call.layer.get_weights()
        for i, axes in edits.items():
            w = ws[i]
            for axis, keep in axes:
                w = np.compress(keep, w, axis=axis % w.ndim)
            ws[i] = w
        new_weights[call.name] = ws
    for e in config["layers"]:
        e.pop("build_config", None)
    custom = {type(c.layer).__name__: type(c.layer) for c in cgraph.graph.calls
              if handler_for(c.layer) is None}
    try:
        with keras.utils.custom_object_scope(custom):
            slim = keras.Model.from_config(config)
    except Exception as e:  # noqa: BLE001 - reported with context
        raise ModelError(f"cannot rebuild the slimmed model: {type(e).__name__}: {e}") from None
    src = cgraph_model(model)
    for layer in slim.layers:
        ws = new_weights.get(layer.name)
        if ws is None:
            ws = src.get_layer(layer.name).get_weights()
        try:
            layer.set_weights(ws)
        except ValueError as e:
            raise ModelError(f"layer {layer.name!r}: slimmed weights do not fit: {e}") from None
    return slim


def cgraph_model(model):
    from .graph import functional

    return functional(model)
