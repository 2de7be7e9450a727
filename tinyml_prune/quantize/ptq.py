"""Post-training full-integer quantization: int8 weights (per-channel), activations, I/O."""
from __future__ import annotations

import numpy as np

from ..kerasenv import quiet_native_stderr, tf


def _representative(calibration: np.ndarray):
    def gen():
        for i in range(len(calibration)):
            yield [calibration[i : i + 1].astype(np.float32)]

    return gen


def int8_converter(converter, calibration: np.ndarray):
    """Configure a TFLiteConverter for int8 in/out, int8 builtins only."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter


def convert_ptq(model, calibration: np.ndarray) -> bytes:
    """Quantize a float Keras model with calibration inputs; returns the flatbuffer bytes."""
    converter = int8_converter(tf.lite.TFLiteConverter.from_keras_model(model), calibration)
    with quiet_native_stderr():
        return converter.convert()


def make_interpreter(tflite: bytes):
    """The oracle: TFLite's reference kernels (BUILTIN_REF), no XNNPACK delegate."""
    return tf.lite.Interpreter(
        model_content=tflite,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF,
    )


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zp = detail["quantization"]
    if detail["dtype"] == np.float32 or scale == 0:
        return x.astype(detail["dtype"])
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale) + zp, info.min, info.max).astype(detail["dtype"])


def run_tflite(tflite: bytes, x: np.ndarray, quantized_input: bool = False) -> np.ndarray:
    """Run every sample of ``x`` (float unless ``quantized_input``) through BUILTIN_REF."""
    interp = make_interpreter(tflite)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    results = []
    for i in range(len(x)):
        xi = x[i : i + 1]
        interp.set_tensor(inp["index"], xi.astype(inp["dtype"]) if quantized_input else quantize_input(xi, inp))
        interp.invoke()
        results.append(interp.get_tensor(out["index"])[0].copy())
    return np.stack(results)


def tflite_accuracy(tflite: bytes, x: np.ndarray, y: np.ndarray) -> float:
    out = run_tflite(tflite, x)
    return float((out.reshape(len(x), -1).argmax(axis=1) == y).mean())


def dataset_for(model, spec: str):
    """The QAT/PTQ data for ``spec``: 'digits', an .npz, or 'probe[:N]' (N structured random
    inputs shaped for ``model``, labelled by the model itself: arg-max class for a classifier,
    its raw outputs otherwise) - the same probe inputs ``tinyml prune --data probe`` uses."""
    from .. import data
    from ..errors import DataError

    if not spec.startswith("probe"):
        return data.load(spec)
    try:
        n = int(spec.split(":", 1)[1]) if ":" in spec else 512
    except ValueError:
        raise DataError(f"--data {spec!r}: use probe or probe:N with a whole number N") from None
    if n < 2:
        raise DataError(f"--data {spec!r}: need at least 2 probe inputs")
    from ..pruning.criteria.base import is_classifier
    from ..pruning.probe_data import probe_dataset

    x_train, x_test = probe_dataset(model, n, max(2, n // 4))
    if is_classifier(model):
        y_train = model.predict(x_train, batch_size=256, verbose=0).argmax(axis=-1)
        y_test = model.predict(x_test, batch_size=256, verbose=0).argmax(axis=-1)
    else:
        y_train = model.predict(x_train, batch_size=256, verbose=0).astype(np.float32)
        y_test = model.predict(x_test, batch_size=256, verbose=0).astype(np.float32)
    return data.Dataset(f"probe:{n}", x_train, y_train, x_test, y_test)
