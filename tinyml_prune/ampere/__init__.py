"""The emulated NVIDIA Ampere 2:4 structured-sparse int8 path (issue #7).

- `format`: compress/decompress an int8 operand into the ``mma.sp`` values + metadata format;
- `fragments`: the per-lane register layout of ``mma.sp.m16n8k{32,64}`` and an instruction emulator;
- `execute`: CONV_2D (implicit GEMM) and FULLY_CONNECTED through the compressed operand;
- `check`: layer-by-layer bit-exactness against TFLite's BUILTIN_REF interpreter;
- `cost`: the analytic A100 model; `report`: the ``ampere_2to4`` report section.
"""
from .format import Compressed24, NotTwoFourError, check_2to4, compress, decompress, is_2to4, prune_2to4

__all__ = ["Compressed24", "NotTwoFourError", "check_2to4", "compress", "decompress", "is_2to4", "prune_2to4"]
