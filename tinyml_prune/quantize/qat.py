"""Prune-preserving quantization-aware training -> full-integer int8 TFLite.

Pipeline (each step for a reason; see docs/quantization.md):

1. fold BatchNormalization and standalone ReLU layers into the Conv2D/Dense before them
   (``fold.py``) — tfmot otherwise skips fake-quantizing a layer followed by a separate ReLU;
2. annotate Conv2D/DepthwiseConv2D/Dense with our ``SparseLayerQuantizeConfig`` (per-channel
   weights, pruning mask frozen, kept weights never round to zero) and every other layer with
   tfmot's defaults, then ``quantize_apply`` with tfmot's prune-preserve scheme;
3. seed every activation range from calibration data (tfmot starts at [-6, 6] and moves with
   decay 0.999, so a short QAT would waste most int8 codes);
4. fine-tune for a few epochs at a low learning rate;
5. convert with int8 input/output and int8 builtins only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow_model_optimization as tfmot

from ..errors import DataError, ModelError
from ..kerasenv import keras, quiet_native_stderr, tf
from .fold import FoldLog, fold_model, unfused_activations
from .ptq import int8_converter
from .qat_config import CUSTOM_OBJECTS, OutputQuantizeConfig, config_for, snap_to_grid
from .tf_ops import ScalarOp, replace_tf_ops

tfq = tfmot.quantization.keras
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit.default_8bit_quantize_configs import NoOpQuantizeConfig  # noqa: E402
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit.default_8bit_quantize_registry import Default8BitQuantizeRegistry  # noqa: E402
SAME_SCALE_LAYERS = ("AveragePooling2D", "GlobalAveragePooling2D")
MIN_RANGE = 1e-3  # narrowest activation range we seed
# Layers tfmot's registry refuses that int8 TFLite runs as element-wise ops with constant
# operands: they get an output-only int8 range (``OutputQuantizeConfig``).
OUTPUT_ONLY_LAYERS = ("Multiply", "Rescaling", "Normalization", "BatchNormalization", "ScalarOp", "Subtract",
                      "Maximum", "Minimum", "Average")


@dataclass(frozen=True)
class QATConfig:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    calibration_samples: int = 200
    seed: int = 0
    dense_per_channel: bool = True  # False: one scale per Dense kernel, as tfmot does


@dataclass(frozen=True)
class QATResult:
    tflite: bytes
    qat_model: "keras.Model"
    folded_model: "keras.Model"
    fold_log: FoldLog
    history: dict
    replaced: dict = None  # TFOpLambda layer -> the layer that replaced it
    fallbacks: dict = None  # layer -> how it is quantized when tfmot's registry refuses it


def _annotate(model, config: QATConfig, fallbacks: dict | None = None):
    """Annotate every layer; ``fallbacks`` collects the layers tfmot's registry refuses and
    that get our output-only config instead. A weighted layer nobody can quantize is refused."""
    registry = Default8BitQuantizeRegistry()
    fallbacks = {} if fallbacks is None else fallbacks

    def annotate(layer):
        if isinstance(layer, keras.layers.InputLayer):
            return layer
        kind = type(layer).__name__
        qc = config_for(layer, dense_per_channel=config.dense_per_channel)
        if qc is None and kind in SAME_SCALE_LAYERS:
            # TFLite's int8 average pooling keeps its input's scale: a FakeQuant on its output
            # (tfmot's default) makes the converter insert a QUANTIZE op after it.
            qc = NoOpQuantizeConfig()
        if qc is None and not registry.supports(layer):
            if kind in OUTPUT_ONLY_LAYERS or not layer.trainable_weights:
                qc = OutputQuantizeConfig()
                fallbacks[layer.name] = f"{kind}: output-only int8 range (not in tfmot's registry)"
            else:
                raise ModelError(f"layer {layer.name!r} ({kind}) has trainable weights and no int8 "
                                 "quantization-aware config (tfmot's registry refuses it); use --ptq or "
                                 "replace the layer")
        return tfq.quantize_annotate_layer(layer, qc) if qc else tfq.quantize_annotate_layer(layer)

    return keras.models.clone_model(model, clone_function=annotate)


def _layer_outputs(model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Output of every layer of ``model`` on ``x`` (single-output layers only)."""
    layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [l.output for l in layers])
    outs = probe.predict(x, batch_size=256, verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    return {l.name: o for l, o in zip(layers, outs)}


def seed_activation_ranges(qat_model, float_model, calibration: np.ndarray) -> int:
    """Set every activation/output range variable to the float model's min/max on calibration.

    Returns how many range variables were set. Ranges always include 0, as TFLite requires.
    """
    outputs = _layer_outputs(float_model, calibration)
    lo_in, hi_in = float(min(calibration.min(), 0.0)), float(max(calibration.max(), 0.0))
    seeded = 0
    for layer in qat_model.layers:
        inner = getattr(layer, "layer", None)
        source = inner.name if inner is not None else None
        for v in layer.non_trainable_variables:
            short = v.name.split("/")[-1].split(":")[0]
            if v.shape.rank != 0 or not (short.endswith("_min") or short.endswith("_max")):
                continue
            if isinstance(layer, tfq.QuantizeLayer) if hasattr(tfq, "QuantizeLayer") else "quantize_layer" in layer.name:
                lo, hi = lo_in, hi_in
            elif source in outputs and not short.startswith("pre_activation"):
                o = outputs[source]
                lo, hi = float(min(o.min(), 0.0)), float(max(o.max(), 0.0))
            else:
                continue
            if hi - lo < MIN_RANGE:  # e.g. a ReLU that is all zero on the calibration inputs:
                hi = lo + MIN_RANGE  # a zero-width range gives scale 0, which the converter aborts on
            v.assign(lo if short.endswith("_min") else hi)
            seeded += 1
    return seeded


def _is_classifier(model, y: np.ndarray) -> bool:
    return y.ndim == 1 and np.issubdtype(y.dtype, np.integer)


def _loss_for(model, y: np.ndarray):
    if not _is_classifier(model, y):
        return keras.losses.MeanSquaredError()
    last = model.layers[-1]
    probs = getattr(getattr(last, "activation", None), "__name__", "") == "softmax" or isinstance(
        last, keras.layers.Softmax)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=not probs)


def _check_data(model, ds) -> None:
    want = tuple(model.input_shape[1:])
    if tuple(ds.x_train.shape[1:]) != want:
        raise DataError(f"data {ds.name!r}: inputs have shape {ds.x_train.shape[1:]}, "
                        f"model {model.name!r} expects {want}")


def qat(model, ds, config: QATConfig = QATConfig()) -> QATResult:
    """Quantization-aware fine-tuning of ``model`` (pruned or not) on ``ds``; int8 TFLite out."""
    _check_data(model, ds)
    keras.utils.set_random_seed(config.seed)
    model_ops, replaced = replace_tf_ops(model)
    folded, log = fold_model(model_ops)
    leftover = unfused_activations(folded)
    if leftover:
        raise ModelError("cannot fold the activation into its layer (the layer has other consumers): "
                         + ", ".join(leftover) + "; tfmot would leave these layers un-quantized")
    calib = ds.calibration(config.calibration_samples)
    fallbacks: dict = {}
    with tfq.quantize_scope({**CUSTOM_OBJECTS, "NoOpQuantizeConfig": NoOpQuantizeConfig, "ScalarOp": ScalarOp}):
        annotated = _annotate(folded, config, fallbacks)
        try:
            qat_model = tfq.quantize_apply(
                annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"model {model.name!r}: tfmot cannot quantize it: {e}") from None
    seed_activation_ranges(qat_model, folded, calib)
    history = {}
    if config.epochs > 0:
        steps = int(np.ceil(len(ds.x_train) / config.batch_size)) * config.epochs
        qat_model.compile(
            optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(config.learning_rate, steps)),
            loss=_loss_for(model, ds.y_train),
            metrics=["accuracy"] if _is_classifier(model, ds.y_train) else [],
        )
        h = qat_model.fit(ds.x_train, ds.y_train, batch_size=config.batch_size, epochs=config.epochs,
                          verbose=0, shuffle=True)
        history = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    snap_to_grid(qat_model)
    converter = int8_converter(tf.lite.TFLiteConverter.from_keras_model(qat_model), calib)
    try:
        with quiet_native_stderr():
            tflite = converter.convert()
    except Exception as e:  # noqa: BLE001 - converter errors are long MLIR dumps
        raise ModelError(f"model {model.name!r}: int8 conversion of the QAT model failed: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return QATResult(tflite, qat_model, folded, log, history, replaced, fallbacks)


def quantize_qat(model, ds, config: QATConfig = QATConfig()) -> bytes:
    """The stable entry point for other stages (e.g. ``tinyml deploy``): int8 .tflite bytes."""
    return qat(model, ds, config).tflite
