"""Dense int8: the TFLite layout unchanged (the baseline every other format is measured against)."""
from __future__ import annotations

import numpy as np

from .base import Encoded, WeightFormat, as_int8_matrix, register


@register
class Dense(WeightFormat):
    name = "dense"
    ops = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})

    def encode(self, w, layer="?"):
        m = as_int8_matrix(w)
        return Encoded(self.name, m.shape, {"weights": m.reshape(-1)}, {"nnz": int(np.count_nonzero(m))})

    def decode(self, enc):
        return enc.arrays["weights"].reshape(enc.shape)
