"""Scratch sizes come from the C kernels' own *_get_buffer_size functions (codegen/kernel_contract)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyml_prune.codegen import CodegenOptions, build_program, kernel_contract, read_tflite
from tinyml_prune.codegen.formats.costmodel import Target

from . import opmodels

M0 = Target("qemu-m0", "cortex-m0")
M4 = Target("qemu-m4", "cortex-m4", dsp=True)
M55 = Target("qemu-m55", "cortex-m55", dsp=True, mve=True)
SOURCES = {"tp_convolve_s8": "tp_convolve_s8.c", "tp_depthwise_conv_s8": "tp_depthwise_conv_s8.c",
           "tp_fully_connected_s8": "tp_fully_connected_s8.c", "tp_convolve_csr_s8": "tp_csr_s8.c",
           "tp_convolve_bitmask_s8": "tp_bitmask_s8.c", "tp_convolve_nm_s8": "tp_nm_s8.c"}


def test_every_variant_of_every_kernel_has_its_buffer_size_function():
    assert set(SOURCES) == set(kernel_contract.SIGNATURES)
    for kernel, source in SOURCES.items():
        held = kernel_contract.variants_for(source)
        assert "ref" in held
        for v in held:  # a variant that builds the kernel must answer for its scratch
            assert kernel_contract.scratch_bytes(kernel, source, filter_dims=(8, 3, 3, 5), target=None) >= 0
            lib = kernel_contract._library(v)
            assert hasattr(lib, kernel_contract.symbol(kernel, v)), (kernel, v)


dims = st.tuples(st.integers(1, 64), st.integers(1, 7), st.integers(1, 7), st.integers(1, 300))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(SOURCES)), dims, st.tuples(st.integers(0, 3), st.integers(0, 3)))
def test_without_a_target_the_scratch_fits_every_board(kernel, filt, pad):
    kw = dict(input_dims=(1, 16, 16, filt[3]), filter_dims=filt, padding=pad)
    worst = kernel_contract.scratch_bytes(kernel, SOURCES[kernel], **kw)
    per_board = [kernel_contract.scratch_bytes(kernel, SOURCES[kernel], target=t, **kw) for t in (M0, M4, M55)]
    assert worst == max(per_board)
    assert per_board[0] == kernel_contract.scratch_bytes(kernel, SOURCES[kernel], target=Target("x", "cortex-m3"), **kw)


def test_each_board_gets_its_variant_s_scratch():
    kw = dict(input_dims=(1, 8, 8, 3), filter_dims=(16, 3, 3, 3), padding=(1, 1))
    conv = [kernel_contract.scratch_bytes("tp_convolve_s8", "tp_convolve_s8.c", target=t, **kw) for t in (M0, M4, M55)]
    assert conv[0] == 0 and conv[2] == 0  # reference and MVE kernels take no caller scratch
    assert conv[1] > 27  # the DSP GEMM widens a pixel pair's 27-tap patch
    # 2:4 on an MVE board runs the DSP kernel (mve/ has no tp_nm_s8.c): its pair table
    nm = [kernel_contract.scratch_bytes("tp_convolve_nm_s8", "tp_nm_s8.c", target=t, **kw) for t in (M0, M4, M55)]
    assert nm[0] == 27 and nm[1] == nm[2] > 27
    assert kernel_contract.scratch_bytes("tp_softmax_s8", "tp_softmax_s8.c", target=M4) == 0  # no scratch function


def _conv_scratch(fmt: str, target) -> int:
    rng = np.random.default_rng(3)
    model = opmodels.conv(rng, 8, 8, 4, 8, (3, 3), (1, 1), (1, 1), "SAME", "NONE")
    program = build_program(read_tflite(model, "conv"), CodegenOptions(format=fmt, target=target), "conv")
    pos = next(i for i, e in enumerate(program.emitters) if e.op.opcode == "CONV_2D")
    assert program.plan.arena_bytes >= program.emitters[pos].scratch_bytes()
    return program.layer_table()[pos]["scratch_bytes"]


def test_the_emitter_sizes_its_call_from_the_kernel():
    dense = {name: _conv_scratch("dense", t) for name, t in (("any", None), ("m0", M0), ("m4", M4), ("m55", M55))}
    assert dense["m0"] == dense["m55"] == 0
    assert dense["any"] == dense["m4"] > 0
    # CSR: one padded 3x3x4 patch on every board (reference and DSP kernels alike)
    assert {_conv_scratch("csr", t) for t in (None, M0, M4)} == {36}


def test_a_missing_compiler_is_one_line(monkeypatch):
    monkeypatch.setattr(kernel_contract.shutil, "which", lambda *_: None)
    kernel_contract._library.cache_clear()
    kernel_contract._call.cache_clear()
    try:
        with pytest.raises(kernel_contract.KernelContractError) as err:
            kernel_contract.scratch_bytes("tp_convolve_s8", "tp_convolve_s8.c", filter_dims=(4, 3, 3, 2))
        assert "gcc" in str(err.value) and "\n" not in str(err.value)
    finally:
        kernel_contract._library.cache_clear()


def test_the_host_library_is_compiled_once(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kernel_contract._library.cache_clear()
    kernel_contract._call.cache_clear()
    try:
        first = kernel_contract.scratch_bytes("tp_convolve_s8", "tp_convolve_s8.c", filter_dims=(4, 3, 3, 2))
        built = sorted(p.name for p in tmp_path.rglob("*.so"))
        assert len(built) == len(kernel_contract.VARIANTS)
        kernel_contract._library.cache_clear()
        kernel_contract._call.cache_clear()

        def refuse(*_a, **_k):
            raise AssertionError("recompiled although the sources did not change")

        monkeypatch.setattr(kernel_contract, "_compile", refuse)
        assert kernel_contract.scratch_bytes("tp_convolve_s8", "tp_convolve_s8.c", filter_dims=(4, 3, 3, 2)) == first
    finally:
        kernel_contract._library.cache_clear()
        kernel_contract._call.cache_clear()
