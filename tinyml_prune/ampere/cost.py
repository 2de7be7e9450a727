"""A latency model of int8 GEMM layers on NVIDIA data-center GPUs, dense vs 2:4 sparse.

Per kernel (one per layer): a launch floor, plus a tile-quantized roofline of the work —
- launch: the per-part cost of one kernel launch, back to back (measured 4.24 µs for an empty
  kernel on an H200; the other parts are not measured and take that figure);
- compute: the layer runs as ``mma(.sp).m16n8k32`` instructions, one warp per 16×8 output tile,
  the tiles spread over all tensor cores, each tile's K loop serial. A tensor core does
  ``peak / (tensor cores · clock)`` int8 MACs per clock; the sparse instruction covers the same
  dense K in half the clocks (the datasheets' "with sparsity" peak);
- memory: every operand crosses HBM once at peak bandwidth — weights (dense int8, or kept values
  + metadata), the input activations once (implicit GEMM), the output, bias and the per-channel
  multiplier/shift (int32 each);
so a layer takes ``launch + max(compute, memory)``. N = output pixels × batch.
Non-GEMM ops (depthwise, pooling, softmax, …) cost one launch plus their tensor bytes at HBM
bandwidth, the same in both variants. Caches, clocks below boost and instruction latency are not
modeled: the work term is a lower bound. ``CALIBRATION`` holds what was measured on a real GPU.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

TILE_M, TILE_N, TILE_K = 16, 8, 32
MAX_BATCH = 1 << 16            # where `pays_from_batch` stops looking
PAYS = 1.10                    # "2:4 pays": modeled speed-up at least this


@dataclass(frozen=True)
class GpuSpec:
    key: str
    name: str
    int8_dense_tops: float       # tera-ops/s (1 MAC = 2 ops)
    int8_sparse_tops: float
    hbm_gb_per_s: float
    l2_bytes: int
    sms: int
    tensor_cores_per_sm: int
    boost_clock_mhz: float
    launch_us: float             # one kernel launch, back to back
    launch_source: str
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


H200_LAUNCH_US = 4.24
H200_LAUNCH = ("measured on an NVIDIA H200 SXM (sm_90, driver 580, CUDA 13, CuPy/NVRTC): an empty kernel, "
               "launched back to back, 4.24 µs per launch")
NOT_MEASURED = "not measured on this part: the H200's measured 4.24 µs per back-to-back launch is assumed"
A100_SOURCES = (
    "NVIDIA A100 Tensor Core GPU datasheet: INT8 Tensor Core 624 TOPS | 1,248 TOPS with sparsity; GPU memory "
    "bandwidth 1,555 GB/s (A100 40GB SXM), 2,039 GB/s (A100 80GB SXM)",
    "NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020): 108 SMs, 4 third-generation Tensor Cores per "
    "SM (432), 40 MB L2 cache, 1410 MHz boost clock",
)
HOPPER_SOURCES = (
    "NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022): H100 SXM5 132 SMs, 4 fourth-generation Tensor "
    "Cores per SM (528), 50 MB L2 cache; its int8 peaks correspond to a 1830 MHz boost clock "
    "(1,979 TOPS = 528 Tensor Cores x 1,024 int8 MACs x 2 x 1.83 GHz)",
)

# Public figures, one table. Sparse = "with sparsity" (the datasheets' footnote: 2x dense).
PARTS = {
    "a100-sxm4-40gb": GpuSpec(
        key="a100-sxm4-40gb", name="NVIDIA A100 SXM4 40GB", int8_dense_tops=624.0, int8_sparse_tops=1248.0,
        hbm_gb_per_s=1555.0, l2_bytes=40 * 1024 * 1024, sms=108, tensor_cores_per_sm=4, boost_clock_mhz=1410.0,
        launch_us=H200_LAUNCH_US, launch_source=NOT_MEASURED, sources=A100_SOURCES),
    "a100-sxm4-80gb": GpuSpec(
        key="a100-sxm4-80gb", name="NVIDIA A100 SXM4 80GB", int8_dense_tops=624.0, int8_sparse_tops=1248.0,
        hbm_gb_per_s=2039.0, l2_bytes=40 * 1024 * 1024, sms=108, tensor_cores_per_sm=4, boost_clock_mhz=1410.0,
        launch_us=H200_LAUNCH_US, launch_source=NOT_MEASURED, sources=A100_SOURCES),
    "h100-sxm": GpuSpec(
        key="h100-sxm", name="NVIDIA H100 SXM 80GB", int8_dense_tops=1979.0, int8_sparse_tops=3958.0,
        hbm_gb_per_s=3350.0, l2_bytes=50 * 1024 * 1024, sms=132, tensor_cores_per_sm=4, boost_clock_mhz=1830.0,
        launch_us=H200_LAUNCH_US, launch_source=NOT_MEASURED,
        sources=("NVIDIA H100 Tensor Core GPU datasheet: H100 SXM INT8 Tensor Core 3,958 TOPS with sparsity "
                 "(1,979 dense); GPU memory bandwidth 3.35 TB/s",) + HOPPER_SOURCES),
    "h200-sxm": GpuSpec(
        key="h200-sxm", name="NVIDIA H200 SXM 141GB", int8_dense_tops=1979.0, int8_sparse_tops=3958.0,
        hbm_gb_per_s=4800.0, l2_bytes=50 * 1024 * 1024, sms=132, tensor_cores_per_sm=4, boost_clock_mhz=1830.0,
        launch_us=H200_LAUNCH_US, launch_source=H200_LAUNCH,
        sources=("NVIDIA H200 Tensor Core GPU datasheet: H200 SXM INT8 Tensor Core 3,958 TOPS with sparsity "
                 "(1,979 dense); GPU memory 141 GB HBM3e, 4.8 TB/s (the same GH100 compute as H100 SXM)",)
        + HOPPER_SOURCES),
}
DEFAULT_PART = "a100-sxm4-40gb"

ASSUMPTIONS = (
    "Each CONV_2D/FULLY_CONNECTED layer is one kernel: an int8 GEMM [M=output channels, K=Kh*Kw*Cin, "
    "N=output pixels x batch] issued as mma(.sp).m16n8k32 instructions, one warp per 16x8 output tile, "
    "tiles spread over all tensor cores, no split-K; B is the raw int8 input, the zero point folded into the bias.",
    "Every kernel pays the part's launch floor (one launch, back to back); non-GEMM ops are one kernel each "
    "too and cost their tensor bytes at HBM bandwidth, equally in both variants.",
    "Per-tensor-core int8 rate = datasheet peak / (tensor cores x clock); the 2:4 path runs at the "
    "datasheet's 'with sparsity' peak (2x), i.e. a k32 sparse MMA takes half the clocks of a dense one. "
    "On Hopper the peaks are reached with wgmma; mma.sync/mma.sp reach less.",
    "Each operand crosses HBM once at peak bandwidth: weights (dense int8, or 2:4 values + 2-bit metadata), "
    "input activations once (implicit GEMM), output, int32 bias, int32 multiplier and shift per channel.",
    "Layer latency = launch + max(compute, memory) (perfect overlap); caches, clocks below boost and "
    "instruction/DRAM latency are not modeled, so the work term is a lower bound (see the calibration table: "
    "the model's floor matches the measurements, its work term underestimates them).",
)

# Measured on a real GPU, kept as calibration data (the model is not fitted to them).
CALIBRATION_SOURCE = ("measured on an NVIDIA H200 SXM (sm_90, driver 580, CUDA 13, CuPy/NVRTC) with the "
                      "warp-per-tile design: one warp per 16x8 int8 output tile, inline-PTX mma.sync / "
                      "mma.sp m16n8k32, back-to-back launches timed with CUDA events")
CALIBRATION = (
    {"what": "KWS 1x1 pointwise CONV_2D", "m": 64, "k": 64, "n": 125, "dense_us": 5.20, "sparse_us": 4.68},
    {"what": "ad01 FULLY_CONNECTED", "m": 128, "k": 640, "n": 1, "dense_us": 4.93, "sparse_us": 4.92},
    {"what": "1x1 pointwise CONV_2D", "m": 128, "k": 128, "n": 36, "dense_us": 7.69, "sparse_us": 5.39},
)
CUSPARSELT_SOURCE = ("measured on the same H200: NVIDIA cuSPARSELt int8 2:4 through PyTorch (_cslt_sparse_mm) "
                     "vs dense torch._int_mm; below 4096^3 slower than dense (each call also costs ~300 µs of "
                     "planning at small sizes)")
CUSPARSELT = (
    {"m": 4096, "k": 4096, "n": 4096, "speedup": 0.52},
    {"m": 8192, "k": 8192, "n": 8192, "speedup": 1.71},
    {"m": 16384, "k": 16384, "n": 16384, "speedup": 1.68},
)


def part(name: str) -> GpuSpec:
    from ..errors import TinymlError

    if name not in PARTS:
        raise TinymlError(f"unknown GPU part {name!r}; choose from {', '.join(PARTS)}")
    return PARTS[name]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def sparse_weight_bytes(m: int, k: int) -> int:
    """Kept values + metadata of an ``[M, K]`` int8 2:4 operand (K padded to 32)."""
    kp = _ceil(k, TILE_K) * TILE_K
    return m * kp // 2 + m * kp // TILE_K * 4


def gemm_time(spec: GpuSpec, m: int, k: int, n: int, weight_bytes: int, io_bytes: int,
              sparse: bool) -> dict:
    """Modeled seconds of one GEMM kernel (see the module docstring); ``n`` includes the batch."""
    tiles = _ceil(m, TILE_M) * _ceil(n, TILE_N)
    k_steps = _ceil(k, TILE_K)
    clocks_per_mma = TILE_M * TILE_N * TILE_K / spec.macs_per_clock_per_tc(sparse)
    waves = _ceil(tiles, spec.tensor_cores)
    compute = waves * k_steps * clocks_per_mma / (spec.boost_clock_mhz * 1e6)
    param_bytes = m * (4 + 8)                    # bias + multiplier + shift, int32 each
    total_bytes = weight_bytes + io_bytes + param_bytes
    memory = total_bytes / (spec.hbm_gb_per_s * 1e9)
    launch = spec.launch_us * 1e-6
    work = max(compute, memory)
    return {"seconds": launch + work, "launch_s": launch, "work_s": work, "compute_s": compute,
            "memory_s": memory, "bound": "compute" if compute >= memory else "memory", "bytes": total_bytes,
            "mma_instructions": tiles * k_steps, "tensor_core_utilization": min(1.0, tiles / spec.tensor_cores)}


def memory_time(spec: GpuSpec, nbytes: int) -> float:
    """One kernel that moves ``nbytes``: launch floor + bytes at HBM bandwidth."""
    return spec.launch_us * 1e-6 + nbytes / (spec.hbm_gb_per_s * 1e9)


def speedup(spec: GpuSpec, m: int, k: int, n: int, io_bytes: int) -> float:
    d = gemm_time(spec, m, k, n, m * k, io_bytes, sparse=False)
    s = gemm_time(spec, m, k, n, sparse_weight_bytes(m, k), io_bytes, sparse=True)
    return d["seconds"] / s["seconds"]


def pays_from_batch(spec: GpuSpec, m: int, k: int, n_per_sample: int, io_bytes_per_sample: int,
                    threshold: float = PAYS) -> int | None:
    """Smallest power-of-two batch at which the modeled 2:4 speed-up reaches ``threshold``."""
    batch = 1
    while batch <= MAX_BATCH:
        if speedup(spec, m, k, n_per_sample * batch, io_bytes_per_sample * batch) >= threshold:
            return batch
        batch *= 2
    return None


def calibration() -> dict:
    """The measured points next to what this model says for them on the H200."""
    spec = PARTS["h200-sxm"]
    rows = []
    for c in CALIBRATION:
        io = c["k"] * c["n"] + c["m"] * c["n"]
        d = gemm_time(spec, c["m"], c["k"], c["n"], c["m"] * c["k"], io, sparse=False)
        s = gemm_time(spec, c["m"], c["k"], c["n"], sparse_weight_bytes(c["m"], c["k"]), io, sparse=True)
        rows.append(dict(c, measured_speedup=c["dense_us"] / c["sparse_us"], modeled_dense_us=d["seconds"] * 1e6,
                         modeled_sparse_us=s["seconds"] * 1e6, modeled_speedup=d["seconds"] / s["seconds"]))
    large = []
    for c in CUSPARSELT:
        io = c["k"] * c["n"] + c["m"] * c["n"] * 4
        large.append(dict(c, modeled_speedup=speedup(spec, c["m"], c["k"], c["n"], io)))
    return {"part": spec.name, "launch_us": H200_LAUNCH_US, "launch_source": H200_LAUNCH,
            "source": CALIBRATION_SOURCE, "layers": rows, "cusparselt_source": CUSPARSELT_SOURCE,
            "cusparselt": large}
