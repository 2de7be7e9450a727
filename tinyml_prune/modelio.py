"""Loading and saving Keras models (tf_keras), with errors that say what is wrong."""
from __future__ import annotations

from pathlib import Path

from .artifacts import atomic_path, check_writable
from .errors import ModelError


def load_model(path: str | Path):
    """Load a tf_keras model from ``.h5``, ``.keras`` or a SavedModel directory."""
    from .kerasenv import keras

    p = Path(path)
    if not p.exists():
        raise ModelError(f"model {p} does not exist")
    try:
        return keras.models.load_model(p, compile=False)
    except Exception as first:  # noqa: BLE001 - re-raised with context below
        try:
            from .keras3 import load_keras3  # Keras 3 .keras archives
        except ImportError:
            load_keras3 = None
        if load_keras3 is not None and p.suffix == ".keras":
            return load_keras3(p)
        raise ModelError(f"cannot load Keras model {p}: {type(first).__name__}: {first}") from None


def save_model(model, path: str | Path, force: bool = False) -> Path:
    """Save atomically; refuses to replace an existing file unless ``force``."""
    dest = check_writable(path, force)
    if dest.suffix not in (".keras", ".h5"):
        raise ModelError(f"{dest}: save Keras models as .keras or .h5")
    with atomic_path(dest, force=True) as tmp:
        model.save(tmp)
    return dest
