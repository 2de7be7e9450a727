"""Keras -> full-integer int8 TFLite (PTQ here; QAT in ``qat.py``)."""
from .ptq import convert_ptq, tflite_accuracy

__all__ = ["convert_ptq", "tflite_accuracy"]
