"""The functional graph of a tf_keras model as plain data: layers, their call sites and shapes.

We read the graph from ``model.get_config()`` (the documented, serialisable form) rather
than from Keras' private node objects, and compute every tensor's static shape with
``compute_output_shape``. The same config, edited, rebuilds the slimmed model.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ...errors import ModelError

TensorKey = tuple  # (layer name, node index, tensor index) - as in Keras' inbound_nodes


@dataclass
class Call:
    """One call of a layer in the graph: its inputs and outputs."""

    layer: object  # the tf_keras layer instance
    name: str
    class_name: str
    inputs: list  # [TensorKey]
    outputs: list  # [TensorKey]
    input_shapes: list = field(default_factory=list)
    output_shapes: list = field(default_factory=list)
    n_calls: int = 1  # how often the layer is called in the model (>1: shared weights)
    kwargs: dict = field(default_factory=dict)  # keyword arguments of the call (TFOpLambda constants)


@dataclass
class Graph:
    config: dict  # functional model config (inbound_nodes form)
    calls: list  # [Call] in topological order
    model_inputs: list  # [TensorKey]
    model_outputs: list  # [TensorKey]
    shapes: dict  # TensorKey -> shape tuple (batch dim None)

    def producer(self, key: TensorKey) -> Call:
        return self._by_output[key]

    def consumers(self, key: TensorKey) -> list:
        return [c for c in self.calls if key in c.inputs]

    def __post_init__(self):
        self._by_output = {k: c for c in self.calls for k in c.outputs}


def functional(model):
    """The model as a functional ``keras.Model`` (a built Sequential is wrapped, same layers)."""
    from ...kerasenv import keras

    if not getattr(model, "_is_graph_network", False):
        if isinstance(model, keras.Sequential) and model.inputs:
            return keras.Model(model.inputs, model.outputs, name=model.name)
        raise ModelError(
            f"model {model.name!r} is not a functional/Sequential graph (subclassed models "
            "cannot be channel-pruned: their structure is not visible)"
        )
    return model


def _is_ref(x, names) -> bool:
    return (isinstance(x, list) and len(x) >= 3 and isinstance(x[0], str) and x[0] in names
            and isinstance(x[1], int) and isinstance(x[2], int))


def node_refs(node, names) -> list:
    """The tensor references of one inbound node, as the (mutable) lists of the config.

    tf_keras writes a node as a list of ``[layer, node, tensor, kwargs]`` entries; a
    ``TFOpLambda`` (``x + 3.0``, ``tf.math.multiply(a, b)``) writes a single first argument
    unwrapped (``[layer, node, tensor, kwargs]``) and tensors passed as keyword arguments as
    ``[layer, node, tensor]`` inside ``kwargs``. ``names``: the model's layer names.
    """
    if isinstance(node, dict):  # Keras 3 style; tf_keras models do not produce it
        raise ModelError("unexpected Keras 3 style inbound node in a tf_keras config")
    entries = [node] if _is_ref(node, names) else list(node)
    refs = []
    for e in entries:
        if not _is_ref(e, names):
            raise ModelError(f"unreadable inbound node entry {str(e)[:80]} in the model config")
        refs.append(e)
        if len(e) > 3 and isinstance(e[3], dict):
            refs += _kwarg_refs(e[3], names)
    return refs


def _kwarg_refs(obj, names) -> list:
    if _is_ref(obj, names) and len(obj) == 3:
        return [obj]
    if isinstance(obj, dict):
        return [r for v in obj.values() for r in _kwarg_refs(v, names)]
    if isinstance(obj, list):
        return [r for v in obj for r in _kwarg_refs(v, names)]
    return []


def _call_kwargs(node, names) -> dict:
    entries = [node] if _is_ref(node, names) else list(node)
    kw = entries[0][3] if entries and len(entries[0]) > 3 else {}
    return kw if isinstance(kw, dict) else {}


def _flat_inbound(node, names) -> list:
    """TensorKeys of one inbound node."""
    return [(t[0], int(t[1]), int(t[2])) for t in node_refs(node, names)]


def _shape_list(s):
    if isinstance(s, (list, tuple)) and s and isinstance(s[0], (list, tuple)):
        return [tuple(x) for x in s]
    return [tuple(s)]


def build_graph(model) -> Graph:
    model = functional(model)
    config = copy.deepcopy(model.get_config())
    pending = []
    names = {e["config"]["name"] for e in config["layers"]}
    for entry in config["layers"]:
        name = entry["config"]["name"]
        layer = model.get_layer(name)
        nodes = entry.get("inbound_nodes") or []
        if entry["class_name"] == "InputLayer":
            nodes = [[]]
        for i, node in enumerate(nodes):
            call = Call(layer, name, entry["class_name"], _flat_inbound(node, names), [], n_calls=len(nodes),
                        kwargs=_call_kwargs(node, names))
            pending.append((call, i))

    # Topological order and shapes: a call is ready once all its inputs have shapes.
    shapes: dict = {}
    ordered = []
    while pending:
        progressed = False
        rest = []
        for call, i in pending:
            if not all(k in shapes for k in call.inputs):
                rest.append((call, i))
                continue
            progressed = True
            if call.class_name == "InputLayer":
                out = [tuple(call.layer.get_config()["batch_input_shape"])]
            else:
                in_shapes = [shapes[k] for k in call.inputs]
                arg = in_shapes[0] if len(in_shapes) == 1 else in_shapes
                try:
                    if call.class_name == "TFOpLambda" and call.n_calls == 1:
                        # tf.* ops recorded by the functional API (``x + 3.0``): their symbolic
                        # output knows its shape; compute_output_shape cannot see kwargs tensors.
                        out = _shape_list(_as_tuple(call.layer.output.shape))
                    else:
                        out = _shape_list(_as_tuple(call.layer.compute_output_shape(arg)))
                except Exception as e:  # noqa: BLE001 - reported with the layer name
                    raise ModelError(f"layer {call.name!r}: cannot infer its output shape: {e}") from None
                call.input_shapes = in_shapes
            call.output_shapes = out
            call.outputs = [(call.name, i, t) for t in range(len(out))]
            for k, s in zip(call.outputs, out):
                shapes[k] = s
            ordered.append(call)
        if not progressed:
            raise ModelError(f"cannot order the graph: layer {rest[0][0].name!r} has unresolved inputs")
        pending = rest
    model_inputs = [tuple(x) for x in config["input_layers"]]
    model_outputs = [tuple(x) for x in config["output_layers"]]
    return Graph(config, ordered, model_inputs, model_outputs, shapes)


def _as_tuple(shape):
    """TensorShape / nested lists -> tuples of ints/None."""
    if hasattr(shape, "as_list"):
        return tuple(shape.as_list())
    if isinstance(shape, (list, tuple)):
        if shape and isinstance(shape[0], (list, tuple)) or (shape and hasattr(shape[0], "as_list")):
            return [_as_tuple(s) for s in shape]
        return tuple(shape)
    return shape
