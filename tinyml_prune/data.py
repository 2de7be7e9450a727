"""Datasets: ``digits`` (scikit-learn's offline 8x8 digits) or a user ``.npz`` file.

Every dataset is NHWC float32 with integer labels and a fixed train/test split, so that
accuracy numbers are comparable between runs and stages.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

DIGITS_SEED = 0
DIGITS_TEST_FRACTION = 0.25


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    label_width: int | None = None  # width of the one-hot rows the labels came from, if they did

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def calibration(self, n: int = 200, seed: int = 0) -> np.ndarray:
        """A fixed subset of the training inputs (for quantization ranges, APoZ, ...)."""
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(self.x_train))[: min(n, len(self.x_train))]
        return self.x_train[np.sort(idx)]

    def split_validation(self, fraction: float = 0.2, seed: int = 0) -> tuple["Dataset", np.ndarray, np.ndarray]:
        """Hold out part of the training set: (train-without-holdout, x_val, y_val)."""
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(self.x_train))
        n_val = max(1, int(round(fraction * len(idx))))
        val, tr = np.sort(idx[:n_val]), np.sort(idx[n_val:])
        ds = Dataset(self.name, self.x_train[tr], self.y_train[tr], self.x_test, self.y_test, self.label_width)
        return ds, self.x_train[val], self.y_train[val]


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = (d.images.astype(np.float32) / 16.0)[..., None]  # 8x8x1 in [0, 1]
    y = d.target.astype(np.int64)
    # Stratified, seeded split: the same images are "test" in every run.
    rng = np.random.default_rng(DIGITS_SEED)
    test_idx = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rng.shuffle(members)
        test_idx.extend(members[: int(round(DIGITS_TEST_FRACTION * len(members)))])
    test = np.zeros(len(y), bool)
    test[test_idx] = True
    return Dataset("digits", x[~test], y[~test], x[test], y[test])


REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: str | Path) -> Dataset:
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {p} does not exist")
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in REQUIRED_KEYS if k not in z.files]
            if missing:
                raise DataError(f"{p}: missing arrays {', '.join(missing)} (need {', '.join(REQUIRED_KEYS)})")
            arrays = {k: z[k] for k in REQUIRED_KEYS}
    except DataError:
        raise
    except Exception as e:  # zipfile/pickle errors: not an npz we can read
        raise DataError(f"{p}: not a readable .npz file ({e})") from None
    from .datacheck import check_finite, check_labels

    for k in ("x_train", "x_test"):
        if arrays[k].ndim < 2:
            raise DataError(f"{p}: {k} must be NHWC (got shape {arrays[k].shape})")
        if not np.issubdtype(arrays[k].dtype, np.number) or np.issubdtype(arrays[k].dtype, np.complexfloating):
            raise DataError(f"{p}: {k} has dtype {arrays[k].dtype}; inputs must be real numbers")
        check_finite(k, arrays[k], str(p))
        arrays[k] = arrays[k].astype(np.float32)
        check_finite(k, arrays[k], f"{p} (as float32)")  # values beyond float32's range
    widths = set()
    for xk, yk in (("x_train", "y_train"), ("x_test", "y_test")):
        y = arrays[yk]
        check_labels(yk, y, str(p))
        if y.ndim == 2:  # one-hot
            widths.add(y.shape[1])
            y = y.argmax(axis=1)
        if y.ndim != 1 or len(y) != len(arrays[xk]):
            raise DataError(f"{p}: {yk} has shape {arrays[yk].shape}, expected ({len(arrays[xk])},) labels")
        arrays[yk] = y.astype(np.int64)
    if len(widths) > 1:
        raise DataError(f"{p}: y_train and y_test are one-hot rows of different widths {sorted(widths)}")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(f"{p}: x_train {arrays['x_train'].shape[1:]} and x_test {arrays['x_test'].shape[1:]} differ")
    arrays["label_width"] = widths.pop() if widths else None
    return Dataset(p.stem, **arrays)


def load(spec: str) -> Dataset:
    """``digits`` or a path to an ``.npz`` file."""
    if spec == "digits":
        return load_digits()
    if spec.endswith(".npz") or Path(spec).exists():
        return load_npz(spec)
    raise DataError(f"unknown dataset {spec!r}: use 'digits' or a path to an .npz file")
