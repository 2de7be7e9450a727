"""The emulated NVIDIA Ampere 2:4 structured-sparse int8 path (NVIDIA 2:4 sparse tensor cores).

- `format`: compress/decompress an int8 operand into the ``mma.sp`` values + metadata format;
- `fragments`: the per-lane registers of ``mma.sp.m16n8k{32,64}`` / ``mma.sync.m16n8k32`` for every
  tile of a GEMM, and emulators of both instructions that take exactly those registers;
- `execute`: CONV_2D (implicit GEMM) and FULLY_CONNECTED as a GPU kernel runs them (int8 A and B,
  zero point folded into the bias, int32 wrap-around);
- `check`: layer-by-layer bit-exactness against TFLite's BUILTIN_REF interpreter;
- `cost`: the latency model (launch floor, batch, A100/H100/H200 datasheet figures, calibration data);
- `gpu`: optional, the same registers through real tensor cores (CuPy + NVRTC);
- `report`: the ``ampere_2to4`` report section.
"""
from .format import Compressed24, NotTwoFourError, check_2to4, compress, decompress, is_2to4, prune_2to4

__all__ = ["Compressed24", "NotTwoFourError", "check_2to4", "compress", "decompress", "is_2to4", "prune_2to4"]
