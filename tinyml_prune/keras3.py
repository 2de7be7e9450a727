"""Keras 3 ``.keras`` archives -> equivalent tf_keras models.

tfmot (and so our unstructured / N:M pruning and QAT) only works with tf_keras. A Keras 3
``.keras`` file is a zip of ``config.json`` (the architecture), ``model.weights.h5`` (the
weights) and ``metadata.json``. We read both ourselves - Keras 3 need not be installed -
rebuild the same functional graph with tf_keras layers and copy the weights. When Keras 3
is importable we also load the file with it and check that both models give the same
outputs on random inputs.

Weights in the archive are stored per layer under ``layers/<snake_case class name>[_N]``
(Keras numbers layers of the same class in model order; recent versions also record the
layer name as an HDF5 attribute, which we prefer when present).

What cannot be converted is refused with a ``ModelError`` naming the layer and the reason:
layer classes tf_keras lacks, nested models, Lambda layers (their code is not portable),
Keras-3-only options that change the computation (LoRA, quantization).
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError

# Keras 3 options with no tf_keras equivalent that are harmless at their defaults.
_DROP_IF_DEFAULT = {
    "lora_rank": (None, 0),
    "lora_alpha": (None,),
    "quantization_config": (None,),
    "synchronized": (False,),
    "optional": (False,),
}
# Never needed: initial values are replaced by the archive's weights.
_INITIALIZER_KEY = re.compile(r".*_initializer$")
_REFUSED = {"Lambda": "a Lambda layer holds Python code, which is not converted",
            "TFSMLayer": "a TFSMLayer wraps a SavedModel, which is not converted"}


@dataclass(frozen=True)
class Conversion:
    model: object  # the tf_keras model
    checked: bool  # outputs compared with Keras 3
    max_abs_diff: float | None


def _snake(name: str) -> str:
    # Keras 3's naming of saved layers (keras.src.utils.naming.to_snake_case).
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _read_archive(path: Path) -> tuple[dict, dict]:
    """(config, {h5 path of a layer: (recorded name or None, [arrays])})."""
    import h5py

    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise ModelError(f"{path}: not a Keras archive (no config.json inside)")
            config = json.loads(z.read("config.json"))
            if "model.weights.h5" not in names:
                raise ModelError(f"{path}: no model.weights.h5 inside (sharded or npz weights are not supported)")
            blob = z.read("model.weights.h5")
    except zipfile.BadZipFile:
        raise ModelError(f"{path}: not a zip archive, so not a Keras .keras file") from None
    weights = {}
    with h5py.File(io.BytesIO(blob), "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and name.endswith("/vars") or name == "vars":
                arrays = [np.asarray(obj[k]) for k in sorted(obj.keys(), key=int)]
                recorded = obj.attrs.get("name")
                if isinstance(recorded, bytes):
                    recorded = recorded.decode()
                weights[name[: -len("/vars")] if name != "vars" else ""] = (recorded, arrays)
        f.visititems(visit)
    return config, weights


def _tf_keras_config(entry: dict) -> dict:
    """A Keras 3 layer config made acceptable to the tf_keras class of the same name."""
    cls, cfg = entry["class_name"], dict(entry.get("config", {}))
    name = cfg.get("name", entry.get("name", "?"))
    if isinstance(cfg.get("dtype"), dict):  # DTypePolicy object -> its policy name
        policy = cfg["dtype"].get("config", {}).get("name")
        if policy is None:
            raise ModelError(f"layer {name!r} ({cls}): cannot read its dtype policy {cfg['dtype']}")
        cfg["dtype"] = policy
    for key in list(cfg):
        if _INITIALIZER_KEY.match(key):
            del cfg[key]
        elif key in _DROP_IF_DEFAULT:
            if cfg[key] not in _DROP_IF_DEFAULT[key]:
                raise ModelError(f"layer {name!r} ({cls}): Keras 3 option {key}={cfg[key]!r} has no tf_keras "
                                 "equivalent")
            del cfg[key]
    if cls == "InputLayer":
        if "batch_shape" in cfg:
            cfg["batch_input_shape"] = cfg.pop("batch_shape")
        cfg.pop("batch_size", None)
        cfg.pop("input_shape", None)
    for key, value in cfg.items():
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            raise ModelError(f"layer {name!r} ({cls}): option {key} is a tensor, which is not converted")
    return cfg


def _layer_class(entry: dict):
    from .kerasenv import keras

    cls = entry["class_name"]
    name = entry.get("config", {}).get("name", entry.get("name", "?"))
    if cls in _REFUSED:
        raise ModelError(f"layer {name!r} ({cls}): {_REFUSED[cls]}")
    if cls in ("Functional", "Sequential", "Model"):
        raise ModelError(f"layer {name!r} is a nested {cls} model; nested models are not converted")
    module = str(entry.get("module") or "keras.layers")
    if entry.get("registered_name") not in (None, cls) or not module.startswith("keras"):
        raise ModelError(f"layer {name!r} is a custom class {entry.get('registered_name') or cls} "
                         f"(module {module}); only built-in Keras layers are converted")
    klass = getattr(keras.layers, cls, None)
    if klass is None:
        raise ModelError(f"layer {name!r}: tf_keras has no layer class {cls}")
    return klass


def _make_layer(entry: dict):
    klass = _layer_class(entry)
    cfg = _tf_keras_config(entry)
    try:
        return klass.from_config(cfg)
    except Exception as e:  # noqa: BLE001 - reported with the layer name
        raise ModelError(f"layer {cfg.get('name')!r} ({entry['class_name']}): tf_keras cannot build it "
                         f"from its Keras 3 config: {type(e).__name__}: {e}") from None


def _triples(spec) -> list:
    """input_layers / output_layers: one [name, node, tensor] or a list of them."""
    if isinstance(spec, dict):
        raise ModelError("dict-structured model inputs/outputs are not converted")
    if len(spec) == 3 and isinstance(spec[0], str):
        return [tuple(spec)]
    return [tuple(s) for s in spec]


def _substitute(obj, tensors, layer_name):
    """Replace serialised ``__keras_tensor__`` references by the built tf_keras tensors."""
    if isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__":
        hist = tuple(obj["config"]["keras_history"])
        if hist not in tensors:
            raise KeyError(hist)
        return tensors[hist]
    if isinstance(obj, list):
        return [_substitute(o, tensors, layer_name) for o in obj]
    if isinstance(obj, dict):
        if "class_name" in obj and "config" in obj:
            raise ModelError(f"layer {layer_name!r}: call argument {obj['class_name']} is not converted")
        return {k: _substitute(v, tensors, layer_name) for k, v in obj.items()}
    return obj


def _build_functional(config: dict):
    from .kerasenv import keras

    tensors: dict = {}
    layers: dict = {}
    pending = []
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"]["name"]
        if entry["class_name"] == "InputLayer":
            cfg = _tf_keras_config(entry)
            shape = cfg.get("batch_input_shape")
            if shape is None:
                raise ModelError(f"input {name!r} has no shape in the archive")
            t = keras.Input(batch_shape=tuple(shape), dtype=cfg.get("dtype"), name=name,
                            sparse=bool(cfg.get("sparse")) or None)
            layers[name] = t.node.layer if hasattr(t, "node") else None
            tensors[(name, 0, 0)] = t
            continue
        layers[name] = _make_layer(entry)
        for i, node in enumerate(entry.get("inbound_nodes", [])):
            pending.append((name, i, node))
    while pending:
        rest = []
        for name, i, node in pending:
            try:
                args = _substitute(node.get("args", []), tensors, name)
                kwargs = _substitute(node.get("kwargs", {}), tensors, name)
            except KeyError:
                rest.append((name, i, node))
                continue
            kwargs = {k: v for k, v in kwargs.items() if not (k == "mask" and v is None)}
            try:
                out = layers[name](*args, **kwargs)
            except Exception as e:  # noqa: BLE001
                raise ModelError(f"layer {name!r}: calling the tf_keras layer failed: {type(e).__name__}: {e}") from None
            outs = out if isinstance(out, (list, tuple)) else [out]
            for t, o in enumerate(outs):
                tensors[(name, i, t)] = o
        if len(rest) == len(pending):
            raise ModelError(f"layer {rest[0][0]!r}: its inputs never appear in the graph")
        pending = rest
    ins = [tensors[t] for t in _triples(config["input_layers"])]
    outs = [tensors[t] for t in _triples(config["output_layers"])]
    model = keras.Model(ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0],
                        name=config.get("name"))
    return model


def _build_sequential(config: dict):
    from .kerasenv import keras

    entries = list(config["layers"])
    if entries and entries[0]["class_name"] == "InputLayer":
        cfg = _tf_keras_config(entries.pop(0))
        shape = cfg["batch_input_shape"]
    else:
        shape = (config.get("build_input_shape") or (config.get("build_config") or {}).get("input_shape"))
        if shape is None:
            raise ModelError("Sequential model without an input shape (never built) cannot be converted")
    x = inp = keras.Input(batch_shape=tuple(shape))
    for entry in entries:
        layer = _make_layer(entry)
        try:
            x = layer(x)
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"layer {layer.name!r}: calling the tf_keras layer failed: {type(e).__name__}: {e}") from None
    return keras.Model(inp, x, name=config.get("name"))


def _saved_layer_order(config: dict, kind: str) -> list:
    """Layer configs in the order Keras 3 saved their weights (its ``model.layers``)."""
    entries = list(config["layers"])
    if kind == "Sequential":
        entries = [e for e in entries if e["class_name"] != "InputLayer"]
    return entries


def _load_weights(model, config: dict, kind: str, weights: dict) -> None:
    by_recorded = {rec: arrays for rec, arrays in weights.values() if rec}
    used: dict = {}
    for entry in _saved_layer_order(config, kind):
        name = entry.get("config", {}).get("name") or entry.get("name")
        base = _snake(entry["class_name"])
        if base in used:
            used[base] += 1
            slot = f"{base}_{used[base]}"
        else:
            used[base] = 0
            slot = base
        if entry["class_name"] == "InputLayer":
            continue
        arrays = by_recorded.get(name)
        if arrays is None:
            arrays = weights.get(f"layers/{slot}", (None, []))[1]
        layer = model.get_layer(name)
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if want != got:
            raise ModelError(f"layer {name!r}: the archive holds weights of shapes {got} "
                             f"(at layers/{slot}), the tf_keras layer needs {want}")
        if arrays:
            layer.set_weights(arrays)


def _compare_with_keras3(path: Path, model) -> float | None:
    """Max |difference| of outputs against Keras 3 itself, or None if Keras 3 is unavailable."""
    try:
        import keras as keras3
    except ImportError:
        return None
    if not str(getattr(keras3, "__version__", "0")).startswith("3"):
        return None
    try:
        reference = keras3.saving.load_model(str(path), compile=False)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{path}: Keras 3 itself cannot load it: {type(e).__name__}: {e}") from None
    rng = np.random.default_rng(0)
    xs = []
    for t in model.inputs:
        shape = [2] + list(t.shape[1:])
        if any(d is None for d in shape):
            return None  # no fixed shape to probe
        xs.append(rng.normal(size=shape).astype(t.dtype.as_numpy_dtype))
    arg = xs if len(xs) > 1 else xs[0]
    ours = model(arg, training=False)
    theirs = reference(arg, training=False)
    ours = ours if isinstance(ours, (list, tuple)) else [ours]
    theirs = theirs if isinstance(theirs, (list, tuple)) else [theirs]
    diff = 0.0
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            raise ModelError(f"{path}: converted output shape {a.shape} differs from Keras 3's {b.shape}")
        diff = max(diff, float(np.max(np.abs(a - b))) if a.size else 0.0)
    return diff


def convert_keras3(path: str | Path, check: bool = True, atol: float = 1e-4) -> Conversion:
    """Convert a Keras 3 ``.keras`` archive into a tf_keras model."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"model {p} does not exist")
    config, weights = _read_archive(p)
    kind = config.get("class_name")
    body = config.get("config", {})
    if kind == "Functional" or (kind == "Model" and "layers" in body):
        model = _build_functional(body)
    elif kind == "Sequential":
        model = _build_sequential(body)
    else:
        raise ModelError(f"{p}: top-level {kind} is not a Functional or Sequential model "
                         "(subclassed models keep their code outside the archive)")
    _load_weights(model, body, "Sequential" if kind == "Sequential" else "Functional", weights)
    diff = _compare_with_keras3(p, model) if check else None
    if diff is not None and diff > atol:
        raise ModelError(f"{p}: the converted tf_keras model differs from Keras 3 by {diff:.3g} (> {atol})")
    return Conversion(model, diff is not None, diff)


def load_keras3(path: str | Path):
    """The tf_keras equivalent of a Keras 3 ``.keras`` file (used by ``modelio.load_model``)."""
    return convert_keras3(path).model
