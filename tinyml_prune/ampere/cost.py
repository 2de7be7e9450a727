"""An analytic latency model of int8 GEMM layers on an Ampere part, dense vs 2:4 sparse.

A tile-quantized roofline: each layer's time is the larger of
- compute: the layer runs as ``mma.m16n8k32`` instructions, one warp per 16×8 output tile, the
  tiles spread over all tensor cores; a tile's K loop is serial. A tensor core does
  ``peak / (tensor cores · clock)`` int8 ops per clock (dense: 512 MACs, so one m16n8k32 takes
  8 clocks); the sparse instruction covers the same dense K in half the clocks;
- memory: every operand crosses HBM once at peak bandwidth — weights (dense int8, or kept
  values + metadata), the input activations once (implicit GEMM: no im2col in memory), the
  output, bias (int32) and the per-channel multiplier/shift (2 × int32).
Non-GEMM ops (depthwise, pooling, softmax, …) are charged their tensor bytes at HBM bandwidth,
the same in both variants. Kernel-launch overhead, caches and clock throttling are not modeled.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

TILE_M, TILE_N, TILE_K = 16, 8, 32


@dataclass(frozen=True)
class GpuSpec:
    name: str
    int8_dense_tops: float       # tera-ops/s (1 MAC = 2 ops)
    int8_sparse_tops: float
    hbm_gb_per_s: float
    l2_bytes: int
    sms: int
    tensor_cores_per_sm: int
    boost_clock_mhz: float
    sources: tuple

    @property
    def tensor_cores(self) -> int:
        return self.sms * self.tensor_cores_per_sm

    def macs_per_clock_per_tc(self, sparse: bool) -> float:
        tops = self.int8_sparse_tops if sparse else self.int8_dense_tops
        return tops * 1e12 / 2 / (self.tensor_cores * self.boost_clock_mhz * 1e6)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["sources"] = list(self.sources)
        return d


# Public figures, one table. "*" sparse = with structured sparsity (the datasheet's footnote).
PARTS = {
    "a100-sxm4-40gb": GpuSpec(
        name="NVIDIA A100 SXM4 40GB",
        int8_dense_tops=624.0,
        int8_sparse_tops=1248.0,
        hbm_gb_per_s=1555.0,
        l2_bytes=40 * 1024 * 1024,
        sms=108,
        tensor_cores_per_sm=4,
        boost_clock_mhz=1410.0,
        sources=(
            "NVIDIA A100 Tensor Core GPU datasheet: INT8 Tensor Core 624 TOPS | 1,248 TOPS with sparsity; "
            "GPU memory bandwidth 1,555 GB/s (A100 40GB)",
            "NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020): 108 SMs, 4 third-generation Tensor "
            "Cores per SM (432), 40 MB L2 cache, 1410 MHz boost clock",
        ),
    ),
}

ASSUMPTIONS = (
    "Each CONV_2D/FULLY_CONNECTED layer is an int8 GEMM [M=output channels, K=Kh*Kw*Cin, "
    "N=output pixels x batch] issued as mma(.sp).m16n8k32 instructions, one warp per 16x8 output tile, "
    "tiles spread over all tensor cores, no split-K.",
    "Per-tensor-core int8 rate = datasheet peak / (tensor cores x boost clock); the 2:4 path runs at the "
    "datasheet's 'with sparsity' peak (2x), i.e. a k32 sparse MMA takes half the clocks of a dense one.",
    "Each operand crosses HBM once at peak bandwidth: weights (dense int8, or 2:4 values + 2-bit metadata), "
    "input activations once (implicit GEMM), output, int32 bias, int32 multiplier and shift per channel.",
    "Layer latency = max(compute, memory) (perfect overlap); non-GEMM ops cost their tensor bytes at HBM "
    "bandwidth, equally in both variants; kernel-launch overhead, L2 reuse and clock throttling are not modeled.",
    "Batch 1 unless the model's input has a larger batch: MCU-sized layers leave most tensor cores idle, "
    "so the modeled speed-up is mostly the memory-traffic ratio.",
)


def part(name: str) -> GpuSpec:
    from ..errors import TinymlError

    if name not in PARTS:
        raise TinymlError(f"unknown GPU part {name!r}; choose from {', '.join(PARTS)}")
    return PARTS[name]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def gemm_time(spec: GpuSpec, m: int, k: int, n: int, weight_bytes: int, io_bytes: int,
              sparse: bool) -> dict:
    """Modeled seconds of one GEMM layer (see the module docstring)."""
    tiles = _ceil(m, TILE_M) * _ceil(n, TILE_N)
    k_steps = _ceil(k, TILE_K)
    clocks_per_mma = TILE_M * TILE_N * TILE_K / spec.macs_per_clock_per_tc(sparse)
    waves = _ceil(tiles, spec.tensor_cores)
    compute = waves * k_steps * clocks_per_mma / (spec.boost_clock_mhz * 1e6)
    param_bytes = m * (4 + 8)                    # bias + multiplier + shift, int32 each
    total_bytes = weight_bytes + io_bytes + param_bytes
    memory = total_bytes / (spec.hbm_gb_per_s * 1e9)
    return {"seconds": max(compute, memory), "compute_s": compute, "memory_s": memory,
            "bound": "compute" if compute >= memory else "memory", "bytes": total_bytes,
            "mma_instructions": tiles * k_steps, "tensor_core_utilization": min(1.0, tiles / spec.tensor_cores)}


def memory_time(spec: GpuSpec, nbytes: int) -> float:
    return nbytes / (spec.hbm_gb_per_s * 1e9)
