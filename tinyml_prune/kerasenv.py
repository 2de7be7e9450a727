"""One place that picks the Keras implementation.

tfmot only works with legacy Keras (tf_keras); it flips ``TF_USE_LEGACY_KERAS`` for the
whole process when imported. We set it before TensorFlow is first imported so every module
sees the same Keras. Import TensorFlow through here.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU-only here; avoids a noisy cuInit failure
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # deterministic float results


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what TensorFlow's C++ side prints straight to fd 2 (absl banners, converter
    statistics) while keeping Python's own errors: they are raised after fd 2 is restored.
    Set TINYML_DEBUG=1 to see everything."""
    if os.environ.get("TINYML_DEBUG"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with quiet_native_stderr():
    import tensorflow as tf  # noqa: E402
    import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")
# The converter and tf.lite.Interpreter warn on every call about things we handle on purpose
# (int8 input statistics, the interpreter's move to ai_edge_litert).
warnings.filterwarnings("ignore", message=r".*Statistics for quantized inputs.*")
warnings.filterwarnings("ignore", message=r".*tf.lite.Interpreter is deprecated.*")

__all__ = ["tf", "keras", "quiet_native_stderr"]
