"""The ``--gpu`` path: real tensor cores where a CUDA GPU and CuPy exist (``requires_gpu``), and on
the CPU its host side against a stand-in CuPy whose kernels follow the CUDA source's indexing."""
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fixture_path
from tinyml_prune.ampere import format as fmt
from tinyml_prune.ampere import fragments as fr
from tinyml_prune.ampere import gpu as gpu_mod


@pytest.fixture(scope="module")
def real_gpu():
    try:
        return gpu_mod.Gpu()
    except gpu_mod.GpuUnavailable as e:
        pytest.skip(f"no usable CUDA GPU: {e}")


# ---- on a real GPU ------------------------------------------------------------------------------

@pytest.mark.requires_gpu
@pytest.mark.parametrize("shape_sel", [("m16n8k32", 0), ("m16n8k32", 1), ("m16n8k64", 0)])
@pytest.mark.parametrize("spelling", gpu_mod.SPELLINGS)
def test_gpu_random_2to4_gemms_equal_emulation(real_gpu, shape_sel, spelling):
    g = gpu_mod.Gpu(spelling)
    rng = np.random.default_rng(0)
    for m, k, n in [(16, 32, 8), (40, 100, 20), (64, 64, 125), (128, 640, 1)]:
        w = rng.integers(-128, 128, (m, k)).astype(np.int8)
        w = np.where(rng.random((m, k)) < 0.3, 0, fmt.prune_2to4(w)).astype(np.int8)   # groups with 0..2 non-zeros
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
        acc0 = rng.integers(-(1 << 31), 1 << 31, (m, n))
        row = gpu_mod.compare_gemm(g, w, b, acc0, reps=0, shape_name=shape_sel[0], selector=shape_sel[1])
        assert row["dense_mismatches"] == 0 and row["sparse_mismatches"] == 0, (m, k, n, row)


@pytest.mark.requires_gpu
def test_gpu_kws_2to4_layers_equal_emulation(real_gpu):
    from tinyml_prune.ampere.check import check_model
    from tinyml_prune.ampere.prune import prune_model_2to4

    _, checks, _ = check_model(prune_model_2to4(fixture_path("kws_ref_model.tflite")), samples=2)
    res = gpu_mod.measure_layers(checks, batch=4, reps=50, gpu=real_gpu)
    assert res["all_equal"] and len(res["layers"]) == 6
    assert all(r["dense_us"] > 0 and r["sparse_us"] > 0 for r in res["layers"].values())
    assert res["launch_floor_us"] > 0


@pytest.mark.requires_gpu
def test_gpu_cli(real_gpu, tmp_path):
    from tinyml_prune.ampere.prune import prune_model_2to4
    from tinyml_prune.cli import main

    model = tmp_path / "kws_2to4.tflite"
    model.write_bytes(prune_model_2to4(fixture_path("kws_ref_model.tflite")))
    assert main(["ampere", str(model), "--samples", "1", "--gpu", "--batch", "2", "--part", "h200-sxm"]) == 0


# ---- on the CPU: the host side against a stand-in CuPy -------------------------------------------

def _fake_cupy(monkeypatch, launches):
    """A CuPy whose kernels index the operands exactly as the CUDA source does, warp by warp."""
    cp = types.ModuleType("cupy")

    def kernel(name):
        def run(grid, block, args):
            launches.append((name, grid, block))
            if name == "empty_kernel":
                return
            *ops, out, tm, tk, tn = args
            tm, tk, tn = int(tm), int(tk), int(tn)
            flat = [o.reshape(-1, *o.shape[3:]) if o.ndim == 4 else o.reshape(-1) for o in ops]
            d_out = out.reshape(-1, 4)
            assert grid[0] * block[0] >= tm * tn * 32
            for warp in range(tm * tn):
                m_, n_ = divmod(warp, tn)
                lanes = slice(warp * 32, warp * 32 + 32)
                c = flat[-1][lanes]
                for s in range(tk):
                    a_at = slice((m_ * tk + s) * 32, (m_ * tk + s) * 32 + 32)
                    b_at = slice((s * tn + n_) * 32, (s * tn + n_) * 32 + 32)
                    if name == "mma_dense_k32":
                        c = fr.mma_dense(flat[0][a_at], flat[1][b_at], c)
                    else:
                        shape_name = "m16n8k64" if "k64" in name else "m16n8k32"
                        c = fr.mma_sp(flat[0][a_at], flat[1][a_at], flat[2][b_at], c, shape_name, int(name[-1]))
                d_out[lanes] = c
        return run

    class RawModule:
        def __init__(self, code, options):
            assert "mma.sp" in code and "mma.sync.aligned.m16n8k32" in code
            self.code = code

        def get_function(self, name):
            assert f"void {name}(" in self.code or name.startswith("mma_sp_k32_s")
            return kernel(name)

    class Event:
        def record(self):
            pass

        def synchronize(self):
            pass

    cp.RawModule = RawModule
    cp.asarray = np.asarray
    cp.asnumpy = np.asarray
    cp.int32 = np.int32
    cp.zeros = lambda shape, dtype: np.zeros(shape, dtype)
    cp.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1,
                                      getDeviceProperties=lambda i: {"name": b"Stand-in GPU", "major": 9, "minor": 0}),
        Event=Event, get_elapsed_time=lambda a, b: 1.0)
    monkeypatch.setitem(sys.modules, "cupy", cp)
    return cp


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 40), st.integers(1, 100), st.integers(1, 20),
       st.sampled_from([("m16n8k32", 0), ("m16n8k32", 1), ("m16n8k64", 0)]), st.integers(0, 2**32 - 1))
def test_host_side_against_a_stand_in_cupy(m, k, n, shape_sel, seed):
    launches = []
    with pytest.MonkeyPatch.context() as mp:
        _fake_cupy(mp, launches)
        g = gpu_mod.Gpu()
        rng = np.random.default_rng(seed)
        w = fmt.prune_2to4(rng.integers(-128, 128, (m, k)).astype(np.int8))
        b = rng.integers(-128, 128, (k, n)).astype(np.int8)
        acc0 = rng.integers(-1000, 1000, (m, n))
        row = gpu_mod.compare_gemm(g, w, b, acc0, reps=3, shape_name=shape_sel[0], selector=shape_sel[1])
    assert g.label == "Stand-in GPU (sm_90)"
    assert row["dense_mismatches"] == 0 and row["sparse_mismatches"] == 0
    assert row["sparse_vs_dense_mismatches"] == 0 and row["accumulators"] % (32 * 4) == 0
    assert row["dense_us"] == pytest.approx(1000.0 / 3) and row["speedup"] == pytest.approx(1.0)
    assert {name for name, _, _ in launches} == {"mma_dense_k32", gpu_mod.SPARSE_KERNEL[shape_sel]}


def test_without_cupy_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    from tinyml_prune.cli import main

    monkeypatch.setitem(sys.modules, "cupy", None)          # import cupy -> ImportError
    with pytest.raises(gpu_mod.GpuUnavailable, match="CuPy is not installed"):
        gpu_mod.Gpu()
    model = tmp_path / "m.tflite"
    model.write_bytes(fixture_path("kws_ref_model.tflite").read_bytes())
    assert main(["ampere", str(model), "--gpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--gpu needs CuPy and a CUDA GPU" in err


def test_without_a_device(monkeypatch):
    cp = _fake_cupy(monkeypatch, [])
    cp.cuda.runtime.getDeviceCount = lambda: 0
    with pytest.raises(gpu_mod.GpuUnavailable, match="reports none"):
        gpu_mod.Gpu()
    cp.cuda.runtime.getDeviceCount = lambda: 1
    cp.cuda.runtime.getDeviceProperties = lambda i: {"name": b"Old GPU", "major": 7, "minor": 5}
    with pytest.raises(gpu_mod.GpuUnavailable, match="sm_80 or newer.*Old GPU is sm_75"):
        gpu_mod.Gpu()


@pytest.mark.requires_gpu  # the GPU tier's toolchain (NVRTC), absent in CI
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_kernels_compile_with_nvrtc(arch):
    """ptxas accepts every inline-PTX instruction (needs only the NVRTC library, no GPU)."""
    for spelling in gpu_mod.SPELLINGS:
        try:
            cubin = gpu_mod.nvrtc_compile(arch, spelling)
        except gpu_mod.GpuUnavailable as e:
            pytest.skip(str(e))
        assert cubin[:4] == b"\x7fELF"
