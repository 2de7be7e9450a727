"""Replace element-wise ``tf.*`` calls recorded in a functional model by real layers before QAT.

The functional API records ``x + 3.0`` or ``tf.math.multiply(a, b)`` as ``TFOpLambda`` layers
(MobileNetV3's hard-swish is ``x * relu6(x + 3) / 6`` written that way). tfmot cannot wrap
them: its annotate/unwrap clone loses the layer's argument structure and the call fails. So
the config is rewritten first:

* one tensor and a scalar (``x + 3.0``, ``x * (1/6)``, ``tf.nn.relu6(x)``) -> ``ScalarOp``, a
  small layer that applies the same function; its output gets an int8 range in QAT;
* two tensors (``tf.math.multiply(a, b)``) -> the Keras merge layer (``Multiply``, ``Add``, ...).

Anything else in a ``TFOpLambda`` is refused with the layer and the function named.
"""
from __future__ import annotations

import copy

from ..errors import ModelError
from ..kerasenv import keras, tf
from ..pruning.channel.graph import node_refs

_BINARY = {"__operators__.add": "add", "math.add": "add", "math.subtract": "subtract",
           "math.multiply": "multiply", "math.truediv": "truediv", "math.divide": "truediv",
           "__operators__.truediv": "truediv", "math.maximum": "maximum", "math.minimum": "minimum"}
_UNARY = {"nn.relu": "relu", "nn.relu6": "relu6", "math.sigmoid": "sigmoid", "nn.sigmoid": "sigmoid",
          "math.tanh": "tanh", "nn.silu": "swish", "nn.swish": "swish", "math.negative": "negative",
          "identity": "identity"}
_MERGE = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply", "maximum": "Maximum",
          "minimum": "Minimum"}


@keras.utils.register_keras_serializable(package="tinyml_prune")
class ScalarOp(keras.layers.Layer):
    """``op(x, value)`` for a scalar ``value`` (add, subtract, multiply, truediv, maximum,
    minimum; ``reverse``: ``op(value, x)``) or a unary ``op(x)``."""

    def __init__(self, op: str, value: float | None = None, reverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.op, self.value, self.reverse = op, value, bool(reverse)

    def call(self, x):
        if self.value is None:
            return {"relu": tf.nn.relu, "relu6": tf.nn.relu6, "sigmoid": tf.math.sigmoid,
                    "tanh": tf.math.tanh, "swish": tf.nn.silu, "negative": tf.math.negative,
                    "identity": tf.identity}[self.op](x)
        c = tf.constant(self.value, x.dtype)
        a, b = (c, x) if self.reverse else (x, c)
        return {"add": tf.math.add, "subtract": tf.math.subtract, "multiply": tf.math.multiply,
                "truediv": tf.math.truediv, "maximum": tf.math.maximum,
                "minimum": tf.math.minimum}[self.op](a, b)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "op": self.op, "value": self.value, "reverse": self.reverse}


def _is_scalar(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def replace_tf_ops(model):
    """Return ``(model, {layer name: replacement})``; the model is returned unchanged when it
    has no ``TFOpLambda`` layer."""
    config = copy.deepcopy(model.get_config())
    names = {l["config"]["name"] for l in config["layers"]}
    done = {}
    for entry in config["layers"]:
        if entry["class_name"] != "TFOpLambda":
            continue
        name = entry["config"]["name"]
        fn = entry["config"].get("function", "?")
        nodes = entry.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise ModelError(f"layer {name!r} (tf.{fn}) is called {len(nodes)} times; cannot quantize it")
        refs = node_refs(nodes[0], names)
        first = nodes[0] if isinstance(nodes[0][0], str) else nodes[0][0]
        kwargs = {k: v for k, v in (first[3] if len(first) > 3 else {}).items() if k != "name"}
        tensors = [[r[0], r[1], r[2], {}] for r in refs]
        scalars = {k: v for k, v in kwargs.items() if _is_scalar(v)}
        rest = {k: v for k, v in kwargs.items() if k not in scalars and not (isinstance(v, list) and v in
                                                                            [r[:3] for r in refs])}
        if rest:
            raise ModelError(f"layer {name!r} (tf.{fn}): arguments {sorted(rest)} are not scalars; "
                             "cannot quantize this tf operation (use a Keras layer)")
        if fn in _UNARY and len(tensors) == 1 and not scalars:
            new = ("ScalarOp", {"op": _UNARY[fn], "value": None})
        elif fn in _BINARY and len(tensors) == 1 and len(scalars) == 1:
            new = ("ScalarOp", {"op": _BINARY[fn], "value": float(next(iter(scalars.values())))})
        elif fn in _BINARY and len(tensors) == 2 and _BINARY[fn] in _MERGE:
            new = (_MERGE[_BINARY[fn]], {})
        else:
            raise ModelError(f"layer {name!r}: tf.{fn} with {len(tensors)} tensor(s) cannot be quantized "
                             "(supported: element-wise add/subtract/multiply/divide/maximum/minimum with a "
                             "scalar or a second tensor, relu, relu6, sigmoid, tanh, swish)")
        cls, cfg = new
        entry.pop("build_config", None)
        entry["module"] = "keras.layers"
        entry["registered_name"] = None
        if cls == "ScalarOp":
            entry["class_name"] = "ScalarOp"
            entry["module"] = None
            entry["registered_name"] = "tinyml_prune>ScalarOp"
            entry["config"] = {"name": name, "trainable": False, "dtype": entry["config"].get("dtype", "float32"),
                               **cfg}
            entry["inbound_nodes"] = [[tensors[0]]]
        else:
            entry["class_name"] = cls
            entry["config"] = {"name": name, "trainable": True, "dtype": entry["config"].get("dtype", "float32")}
            entry["inbound_nodes"] = [tensors]
        done[name] = f"tf.{fn} -> {cls}" + (f"({cfg['op']}" + (f", {cfg['value']:g})" if cfg.get("value") is not None
                                                               else ")") if cls == "ScalarOp" else "")
    if not done:
        return model, {}
    try:
        new = keras.Model.from_config(config, custom_objects={"tinyml_prune>ScalarOp": ScalarOp,
                                                              "ScalarOp": ScalarOp})
    except Exception as e:  # noqa: BLE001 - reported with context
        raise ModelError(f"model {model.name!r}: cannot rebuild after replacing tf operations: "
                         f"{type(e).__name__}: {e}") from None
    for layer in new.layers:
        if layer.weights and layer.name not in done:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return new, done
