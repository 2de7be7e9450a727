"""One place that picks the Keras implementation.

tfmot only works with legacy Keras (tf_keras); it flips ``TF_USE_LEGACY_KERAS`` for the
whole process when imported. We set it before TensorFlow is first imported so every module
sees the same Keras. Import TensorFlow through here.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU-only here; avoids a noisy cuInit failure
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # deterministic float results

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

tf.get_logger().setLevel("ERROR")

__all__ = ["tf", "keras"]
