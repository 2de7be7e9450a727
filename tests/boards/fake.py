"""The fake model's transform in Python (mirror of fake_model/model.c)."""
from pathlib import Path

import numpy as np

FAKE_MODEL = Path(__file__).resolve().parent / "fake_model"
IN, OUT = 16, 8


def fake_run(x: np.ndarray) -> np.ndarray:
    a = (x.astype(np.int8) ^ np.int8(0x5A)).astype(np.int32)
    out = np.empty(OUT, np.int32)
    for i in range(OUT):
        out[i] = sum(int(a[(i + j) % IN]) * (j + 1) for j in range(IN))
    return (((out & 0xFF) + 128) % 256 - 128).astype(np.int8)
