"""Keras -> full-integer int8 TFLite: PTQ (``ptq.py``) or sparsity-preserving QAT (``qat.py``)."""
from .ptq import convert_ptq, tflite_accuracy
from .qat import QATConfig, quantize_qat

__all__ = ["convert_ptq", "tflite_accuracy", "QATConfig", "quantize_qat"]
