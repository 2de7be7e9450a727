"""The TFLite flatbuffer schema (generated Python classes), without TensorFlow's start-up.

LiteRT (``ai_edge_litert``) ships the schema module on its own; TensorFlow's copy is the
fallback (its dotted import fails, the from-import works, and it imports all of TensorFlow)."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def schema():
    try:
        from ai_edge_litert import schema_py_generated as s
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as s
    return s
