"""Checks the commands run on a model before any work: layers a stage cannot handle are named
in one clean error, or (where leaving them dense is legitimate) listed in the report."""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedLayerError

RECURRENT = ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
             "LSTMV1", "GRUV1", "CuDNNLSTM", "CuDNNGRU")
_KERAS_MODULES = ("keras", "tf_keras", "tensorflow", "tensorflow_model_optimization", "tinyml_prune")


def _flat_layers(model):
    """Top-level layers and those of nested models, outermost first."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers") and layer is not model:
            yield from _flat_layers(layer)


def is_custom(layer) -> bool:
    """A layer class defined outside Keras/TensorFlow (the user's own)."""
    module = type(layer).__module__ or ""
    return module.split(".")[0] not in _KERAS_MODULES


def layer_problem(layer) -> str | None:
    """Why a stage that knows only Keras' feed-forward layers cannot look inside ``layer``."""
    kind = type(layer).__name__
    if kind in RECURRENT:
        return f"recurrent layer ({kind})"
    if is_custom(layer):
        return f"custom layer ({kind} from {type(layer).__module__})"
    return None


def check_quantizable(model, method: str) -> None:
    """Full-integer int8 conversion cannot take recurrent layers (the converter lowers them to
    TensorList ops with no int8 kernel); QAT cannot annotate custom layers."""
    for layer in _flat_layers(model):
        kind = type(layer).__name__
        if kind in RECURRENT:
            raise UnsupportedLayerError(
                f"layer {layer.name!r} ({kind}): recurrent layers cannot be converted to a full-integer int8 "
                f".tflite (TensorFlow Lite lowers them to TensorList ops without int8 kernels)")
        if method == "qat" and is_custom(layer):
            raise UnsupportedLayerError(
                f"layer {layer.name!r}: custom layer {kind} ({type(layer).__module__}) has no quantization "
                f"config for QAT; try --ptq")


def _macs(layer) -> int:
    kind = type(layer).__name__
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        shape = layer.input_shape
        steps = shape[1] if isinstance(shape, tuple) and len(shape) == 3 and shape[1] else 1
        units = int(layer.units)
        gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
        features = int(shape[-1]) if isinstance(shape, tuple) and shape[-1] else 0
        return int(steps) * gates * units * (features + units)
    return 0


def kept_dense_rows(model, report) -> list:
    """Report rows for layers with weight matrices the pruner did not touch and did not list
    (recurrent, embedding, custom, nested models): ``kept dense: <reason>``."""
    from ..pruning.report import LayerRow

    listed = {r.name for r in report.rows}
    rows = []
    for layer in model.layers:
        if layer.name in listed:
            continue
        mats = [w for w in layer.weights if len(w.shape) >= 2]
        if not mats:
            continue
        kind = type(layer).__name__
        why = layer_problem(layer)
        if why is None:
            why = ("nested model (its layers are not pruned one by one)" if hasattr(layer, "layers")
                   else f"{kind} weights are not pruned (the pruner handles Dense and Conv kernels)")
        w = mats[0].numpy()
        params = int(layer.count_params())
        rows.append(LayerRow(layer.name, kind, tuple(int(d) for d in w.shape), "dense", f"kept dense: {why}",
                             float(np.mean(w == 0)) if w.size else 0.0, params, params,
                             _macs(layer), _macs(layer)))
    return rows
