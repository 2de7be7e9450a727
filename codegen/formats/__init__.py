"""Weight formats: dense, CSR, bitmask and N:M encoders behind one registry.

``get(name).encode(weights)`` gives the arrays a kernel of that format reads;
``decode`` inverts it; ``Encoded.nbytes`` is the exact flash cost.
"""
from . import bitmask, csr, dense, nm  # noqa: F401  (each module registers its format)
from .select import CHOICES, specialize  # noqa: F401
from .base import C_TYPES, Encoded, FormatError, WeightFormat, as_int8_matrix, fold_bias, get, names, register

__all__ = ["CHOICES", "specialize", "C_TYPES", "Encoded", "FormatError", "WeightFormat", "as_int8_matrix", "fold_bias", "get", "names", "register"]
