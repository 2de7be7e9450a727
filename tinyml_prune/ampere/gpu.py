"""Optional: the emulated kernels' lane operands through real tensor cores (CuPy + NVRTC).

The registers that ``fragments`` builds for every tile of a layer — compressed A, metadata, B
(raw int8 input), C (bias with the zero point folded in) — are copied to the GPU unchanged and
fed to inline-PTX ``mma.sp.sync.aligned.m16n8k{32,64}.row.col.s32.s8.s8.s32`` (and the dense
``mma.sync.aligned.m16n8k32``), one warp per 16×8 output tile looping over K: the
warp-per-tile design the emulation describes. Every D register that comes back is compared with
the emulation's; back-to-back launches are timed with CUDA events.

Needs a CUDA GPU of compute capability 8.0 or newer (``mma.sp`` exists from sm_80) and CuPy
(``pip install 'tinyml-prune[gpu]'``, or the ``cupy-cudaXXx`` wheel matching the driver).
Imports only numpy and the pure-numpy parts of this package, so that it also runs where
TensorFlow is not installed.
"""
from __future__ import annotations

import numpy as np

from ..errors import TinymlError
from . import fragments as fr

BLOCK = 128                       # threads per block: four warps, one output tile each
WARMUP = 5

KERNELS = r"""
extern "C" __global__ void empty_kernel() {}

#define TILE_PROLOGUE                                                   \
    const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;      \
    const int lane = threadIdx.x & 31;                                  \
    if (warp >= TM * TN) return;                                        \
    const int tm = warp / TN, tn = warp % TN;                           \
    int4 d = C[warp * 32 + lane];

/* A [TM, TK, 32] x uint2, E [TM, TK, 32], B [TK, TN, 32] x uint2, C/D [TM, TN, 32] x int4 */
#define SPARSE_K32(SEL)                                                                         \
extern "C" __global__ void mma_sp_k32_s##SEL(const uint2* __restrict__ A,                       \
        const unsigned* __restrict__ E, const uint2* __restrict__ B,                            \
        const int4* __restrict__ C, int4* __restrict__ D, int TM, int TK, int TN) {             \
    TILE_PROLOGUE                                                                               \
    for (int s = 0; s < TK; ++s) {                                                              \
        const uint2 a = A[(tm * TK + s) * 32 + lane];                                           \
        const unsigned e = E[(tm * TK + s) * 32 + lane];                                        \
        const uint2 b = B[(s * TN + tn) * 32 + lane];                                           \
        asm volatile("mma.sp.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "                      \
                     "{%0,%1,%2,%3}, {%4,%5}, {%6,%7}, {%0,%1,%2,%3}, %8, " #SEL ";\n"         \
                     : "+r"(d.x), "+r"(d.y), "+r"(d.z), "+r"(d.w)                               \
                     : "r"(a.x), "r"(a.y), "r"(b.x), "r"(b.y), "r"(e));                         \
    }                                                                                           \
    D[warp * 32 + lane] = d;                                                                    \
}
SPARSE_K32(0)
SPARSE_K32(1)

/* A [TM, TK, 32] x uint4, E [TM, TK, 32], B [TK, TN, 32] x uint4 */
extern "C" __global__ void mma_sp_k64_s0(const uint4* __restrict__ A, const unsigned* __restrict__ E,
        const uint4* __restrict__ B, const int4* __restrict__ C, int4* __restrict__ D,
        int TM, int TK, int TN) {
    TILE_PROLOGUE
    for (int s = 0; s < TK; ++s) {
        const uint4 a = A[(tm * TK + s) * 32 + lane];
        const unsigned e = E[(tm * TK + s) * 32 + lane];
        const uint4 b = B[(s * TN + tn) * 32 + lane];
        asm volatile("mma.sp.sync.aligned.m16n8k64.row.col.s32.s8.s8.s32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, 0;\n"
                     : "+r"(d.x), "+r"(d.y), "+r"(d.z), "+r"(d.w)
                     : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b.x), "r"(b.y), "r"(b.z), "r"(b.w), "r"(e));
    }
    D[warp * 32 + lane] = d;
}

/* dense: A [TM, TK, 32] x uint4, B [TK, TN, 32] x uint2 */
extern "C" __global__ void mma_dense_k32(const uint4* __restrict__ A, const uint2* __restrict__ B,
        const int4* __restrict__ C, int4* __restrict__ D, int TM, int TK, int TN) {
    TILE_PROLOGUE
    for (int s = 0; s < TK; ++s) {
        const uint4 a = A[(tm * TK + s) * 32 + lane];
        const uint2 b = B[(s * TN + tn) * 32 + lane];
        asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+r"(d.x), "+r"(d.y), "+r"(d.z), "+r"(d.w)
                     : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b.x), "r"(b.y));
    }
    D[warp * 32 + lane] = d;
}
"""
# Both spellings compile from sm_80 on; ``::ordered_metadata`` (PTX ISA 8.5) is the one ptxas recommends
# for future architectures, plain ``mma.sp`` the one older NVRTC versions know. Both were equal on the H200.
SPELLINGS = ("mma.sp", "mma.sp::ordered_metadata")
SPARSE_KERNEL = {("m16n8k32", 0): "mma_sp_k32_s0", ("m16n8k32", 1): "mma_sp_k32_s1", ("m16n8k64", 0): "mma_sp_k64_s0"}


class GpuUnavailable(TinymlError):
    """No CUDA GPU, no CuPy, or a GPU without sparse tensor cores."""


def kernel_source(spelling: str = "mma.sp") -> str:
    if spelling not in SPELLINGS:
        raise TinymlError(f"unknown mma.sp spelling {spelling!r}; choose from {', '.join(SPELLINGS)}")
    return KERNELS.replace("mma.sp.sync", spelling + ".sync")


def nvrtc_compile(arch: str = "sm_90", spelling: str = "mma.sp") -> bytes:
    """Compile the kernels to a CUBIN for ``arch`` with NVRTC alone (no GPU needed; ptxas runs).

    Finds libnvrtc in the ``nvidia-cuda-nvrtc`` wheels or on the library path; raises
    `GpuUnavailable` when there is none, `TinymlError` with NVRTC's log when compilation fails.
    """
    import ctypes
    import ctypes.util
    import glob
    import os

    candidates = []
    try:
        import nvidia.cuda_nvrtc as pkg           # the pip wheel (cu12 layout)
        candidates += sorted(glob.glob(os.path.join(list(pkg.__path__)[0], "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    try:
        import nvidia                              # cu13 wheels put it under nvidia/cu13
        for root in nvidia.__path__:
            candidates += sorted(glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    found = ctypes.util.find_library("nvrtc")
    candidates += [found] if found else []
    lib = None
    for c in candidates:
        if "builtins" in c or ".alt." in c:
            continue
        try:
            lib = ctypes.CDLL(c)
            break
        except OSError:
            continue
    if lib is None:
        raise GpuUnavailable("NVRTC is not installed (pip install nvidia-cuda-nvrtc-cu12)")
    prog = ctypes.c_void_p()
    if lib.nvrtcCreateProgram(ctypes.byref(prog), kernel_source(spelling).encode(), b"ampere_mma.cu", 0, None, None):
        raise TinymlError("NVRTC could not create a program")
    opts = [b"--std=c++14", f"--gpu-architecture={arch}".encode()]
    rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
    n = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
    log = ctypes.create_string_buffer(n.value)
    lib.nvrtcGetProgramLog(prog, log)
    if rc:
        raise TinymlError(f"NVRTC failed for {arch}: {log.value.decode(errors='replace').strip()[:2000]}")
    lib.nvrtcGetCUBINSize(prog, ctypes.byref(n))
    cubin = ctypes.create_string_buffer(n.value)
    lib.nvrtcGetCUBIN(prog, cubin)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return cubin.raw


class Gpu:
    """One CUDA device with the kernels compiled (NVRTC)."""

    def __init__(self, spelling: str = "mma.sp"):
        try:
            import cupy
        except ImportError:
            raise GpuUnavailable("--gpu needs CuPy and a CUDA GPU: CuPy is not installed "
                                 "(pip install 'tinyml-prune[gpu]')") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:              # CUDARuntimeError, or a missing driver library
            raise GpuUnavailable(f"--gpu needs a CUDA GPU: none is usable here ({type(e).__name__}: "
                                 f"{str(e).strip().splitlines()[0] if str(e).strip() else 'no driver'})") from None
        if count == 0:
            raise GpuUnavailable("--gpu needs a CUDA GPU: the CUDA runtime reports none")
        props = cupy.cuda.runtime.getDeviceProperties(0)
        self.name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        self.cc = (int(props["major"]), int(props["minor"]))
        if self.cc < (8, 0):
            raise GpuUnavailable(f"--gpu needs sparse tensor cores (sm_80 or newer): {self.name} is "
                                 f"sm_{self.cc[0]}{self.cc[1]}")
        self.cp = cupy
        try:
            self.spelling = spelling
            self.module = cupy.RawModule(code=kernel_source(spelling), options=("--std=c++14",))
            self.module.get_function("empty_kernel")
        except Exception as e:
            raise GpuUnavailable(f"--gpu: NVRTC could not compile the mma.sp kernels for {self.name}: "
                                 f"{str(e).strip().splitlines()[0]}") from None

    @property
    def label(self) -> str:
        return f"{self.name} (sm_{self.cc[0]}{self.cc[1]})"

    # -- launches ---------------------------------------------------------------------------------
    def _launcher(self, kernel: str, arrays: list[np.ndarray], tm: int, tk: int, tn: int):
        cp = self.cp
        dev = [cp.asarray(np.ascontiguousarray(x)) for x in arrays]
        out = cp.zeros((tm, tn, fr.LANES, 4), dtype=cp.int32)
        fn = self.module.get_function(kernel)
        grid = (-(-tm * tn * fr.LANES // BLOCK),)
        args = tuple(dev) + (out, np.int32(tm), np.int32(tk), np.int32(tn))

        def launch():
            fn(grid, (BLOCK,), args)
        return launch, out

    def _time(self, launch, reps: int) -> float:
        """Mean µs per launch over ``reps`` back-to-back launches (CUDA events)."""
        cp = self.cp
        for _ in range(WARMUP):
            launch()
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        for _ in range(reps):
            launch()
        end.record()
        end.synchronize()
        return cp.cuda.get_elapsed_time(start, end) * 1000.0 / reps

    def launch_floor_us(self, reps: int = 1000) -> float:
        fn = self.module.get_function("empty_kernel")
        return self._time(lambda: fn((1,), (32,), ()), reps)

    def run_sparse(self, a, e, bf, cf, shape_name: str = "m16n8k32", selector: int = 0,
                   reps: int = 0) -> tuple[np.ndarray, float | None]:
        """D registers ``[TM, TN, 32, 4]`` from the lanes' registers (as ``fragments.sparse_operands``)."""
        kernel = SPARSE_KERNEL[(shape_name, selector)]
        tm, tk, tn = a.shape[0], a.shape[1], bf.shape[1]
        launch, out = self._launcher(kernel, [a, e, bf, cf], tm, tk, tn)
        launch()
        d = self.cp.asnumpy(out)
        return d, (self._time(launch, reps) if reps else None)

    def run_dense(self, a, bf, cf, reps: int = 0) -> tuple[np.ndarray, float | None]:
        tm, tk, tn = a.shape[0], a.shape[1], bf.shape[1]
        launch, out = self._launcher("mma_dense_k32", [a, bf, cf], tm, tk, tn)
        launch()
        d = self.cp.asnumpy(out)
        return d, (self._time(launch, reps) if reps else None)


def compare_gemm(gpu: Gpu, w: np.ndarray, b: np.ndarray, acc0: np.ndarray, reps: int = 200,
                 shape_name: str = "m16n8k32", selector: int = 0) -> dict:
    """One GEMM ``w[M, K]`` (int8) · ``b[K, N]`` (int8) + ``acc0`` on the GPU and in the emulation.

    Dense always; 2:4 when ``w`` is 2:4. Returns accumulator counts, mismatches (every D
    register of every tile, padding included) and µs per launch.
    """
    from . import format as fmt

    a, bf, cf = fr.dense_operands(w, b, acc0)
    emu = fr.run_dense_tiles(a, bf, cf)
    got, dense_us = gpu.run_dense(a, bf, cf, reps)
    row = {"m": int(w.shape[0]), "k": int(w.shape[1]), "n": int(b.shape[1]), "accumulators": int(emu.size),
           "dense_mismatches": int((got != emu).sum()), "dense_us": dense_us}
    if fmt.is_2to4(w):
        c = fmt.compress(w)
        ops = fr.sparse_operands(c, b, acc0, shape_name, selector)
        semu = fr.run_sparse_tiles(*ops, shape_name, selector)
        sgot, sparse_us = gpu.run_sparse(*ops, shape_name, selector, reps)
        row.update({"sparse_mismatches": int((sgot != semu).sum()),
                    "sparse_vs_dense_mismatches": int((fr.cd_matrix(semu, *w.shape[:1], b.shape[1])
                                                       != fr.cd_matrix(emu, *w.shape[:1], b.shape[1])).sum()),
                    "sparse_us": sparse_us, "instruction": f"{gpu.spelling} {shape_name} selector {selector}"})
        if dense_us and sparse_us:
            row["speedup"] = dense_us / sparse_us
    return row


def measure_layers(checks, batch: int = 1, reps: int = 200, gpu: Gpu | None = None) -> dict:
    """Every GEMM layer of a checked model (``check.check_model``) on the GPU at ``batch``.

    The batch is the interpreter's traced inputs of that layer, repeated in turn.
    """
    from .execute import folded_bias, im2col

    gpu = gpu or Gpu()
    layers = {}
    for ch in checks:
        L = ch.layer
        if not ch.inputs:
            continue
        x = np.stack([ch.inputs[i % len(ch.inputs)] for i in range(batch)])
        b = im2col(L, x)
        acc0 = np.broadcast_to(folded_bias(L)[:, None], (L.m, b.shape[1]))
        layers[L.op.index] = compare_gemm(gpu, L.weights, b, acc0, reps)
    ok = all(r["dense_mismatches"] == 0 and r.get("sparse_mismatches", 0) == 0 for r in layers.values())
    return {"device": gpu.label, "batch": batch, "reps": reps, "launch_floor_us": gpu.launch_floor_us(),
            "design": "one warp per 16x8 output tile, pre-swizzled lane operands, inline-PTX mma.sync / "
                      "mma.sp m16n8k32, back-to-back launches timed with CUDA events",
            "layers": layers, "all_equal": ok}
