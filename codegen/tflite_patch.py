"""Overwrite constant buffers in a copy of a .tflite flatbuffer, leaving everything else alone.

Used wherever a model's int8 weights are changed without re-converting it (2:4 or magnitude
pruning of third-party models, channel masking): the new array must have the old dtype and
size, so the flatbuffer's layout, offsets and every other byte stay as they were.
"""
from __future__ import annotations

import numpy as np

from tinyml_prune.errors import ModelError

from .schema import schema


def replace_buffers(data: bytes, new_data: dict[int, np.ndarray]) -> bytes:
    """A copy of ``data`` with the constant tensors ``{tensor index: array}`` overwritten in place."""
    buf = bytearray(data)
    s = schema()
    m = s.Model.GetRootAs(buf, 0)
    sg = m.Subgraphs(0)
    for ti, arr in new_data.items():
        t = sg.Tensors(ti)
        b = m.Buffers(t.Buffer())
        raw = np.ascontiguousarray(arr).tobytes()
        o = b._tab.Offset(4)       # Buffer.data
        if o == 0 or b._tab.VectorLen(o) != len(raw):
            raise ModelError(f"tensor {ti} ({t.Name().decode()}): constant buffer is absent or holds "
                             f"{b.DataLength()} bytes, not {len(raw)}")
        start = b._tab.Vector(o)
        buf[start:start + len(raw)] = raw
    return bytes(buf)
