"""Checks on a dataset before anything trains or calibrates on it.

Bad data does not fail loudly by itself: NaN inputs train a model to chance accuracy, labels
beyond the model's outputs make TensorFlow fail deep inside a loss function or make accuracy
figures vanish. Each check here raises one ``DataError`` line naming the array, the first
offending index and its value.
"""
from __future__ import annotations

import numpy as np

from .errors import DataError


def _index(idx) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def check_finite(name: str, a: np.ndarray, source: str = "") -> None:
    """Every element of ``a`` is a finite number."""
    a = np.asarray(a)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating)):
        return
    bad = ~np.isfinite(a)
    if bad.any():
        first = np.argwhere(bad)[0]
        where = f"{source}: " if source else ""
        raise DataError(f"{where}{name}{_index(first)} is {a[tuple(first)].item()!r} "
                        f"({int(bad.sum())} non-finite values); inputs and labels must be finite numbers")


def check_labels(name: str, y: np.ndarray, source: str = "") -> None:
    """Class labels: finite, whole, not negative (before they are cast to integers)."""
    y = np.asarray(y)
    where = f"{source}: " if source else ""
    check_finite(name, y, source)
    if np.issubdtype(y.dtype, np.floating):
        frac = y != np.round(y)
        if frac.any():
            first = np.argwhere(frac)[0]
            raise DataError(f"{where}{name}{_index(first)} is {y[tuple(first)].item()!r}: class labels must be "
                            f"whole numbers (or one-hot rows)")
    elif not np.issubdtype(y.dtype, np.integer) and y.dtype != bool:
        raise DataError(f"{where}{name} has dtype {y.dtype}: class labels must be integers or one-hot rows")
    if y.size and np.issubdtype(y.dtype, np.number):
        neg = y < 0
        if neg.any():
            first = np.argwhere(neg)[0]
            raise DataError(f"{where}{name}{_index(first)} is {y[tuple(first)].item()!r}: class labels must be >= 0")


def model_outputs(model) -> int | None:
    """Width of the model's (first) output's last axis; None when unknown."""
    shape = model.output_shape
    if isinstance(shape, list):
        shape = shape[0]
    n = shape[-1] if shape else None
    return int(n) if n is not None else None


def check_against_model(ds, model, data_name: str | None = None) -> None:
    """``ds`` (a ``tinyml_prune.data.Dataset``) fits ``model``: input shape, label range and
    one-hot width. Call it before training, pruning or calibrating."""
    name = data_name or getattr(ds, "name", "data")
    in_shape = model.input_shape
    if isinstance(in_shape, list):
        raise DataError(f"model {model.name!r} has {len(in_shape)} inputs; a dataset feeds one")
    want = tuple(in_shape[1:])
    for xk in ("x_train", "x_test"):
        got = tuple(getattr(ds, xk).shape[1:])
        if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
            raise DataError(f"data {name!r}: {xk} has samples of shape {got}, model {model.name!r} expects "
                            f"{tuple('?' if w is None else w for w in want)}")
    n_out = model_outputs(model)
    if n_out is None or n_out < 2:
        return  # a single output: regression or a sigmoid; no class ids to check
    width = getattr(ds, "label_width", None)
    if width is not None and width != n_out:
        raise DataError(f"data {name!r}: labels are one-hot rows of width {width}, model {model.name!r} has "
                        f"{n_out} outputs")
    for yk in ("y_train", "y_test"):
        y = np.asarray(getattr(ds, yk))
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or not y.size:
            continue
        over = y >= n_out
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise DataError(f"data {name!r}: {yk}[{i}] is {int(y[i])}, but model {model.name!r} has {n_out} "
                            f"outputs (class ids 0..{n_out - 1}); labels go up to {int(y.max())}")
