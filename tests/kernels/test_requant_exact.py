"""The optimized kernels' requantizations equal TFLite's reference arithmetic
(tp_requantize, double rounding) for every shift the code generator emits, positive ones
included: an exhaustive sweep of the shift range with edge, tie and random accumulators in C
(host with sanitizers, then Cortex-M4 and M55 on QEMU with the real SMMULR/QADD), and
hypothesis properties on accumulators of random layers under the variant the generator picks."""
from __future__ import annotations

import ctypes as C
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from formats import qemu_runner as Q
from formats.ckernels import KERNELS
from tinyml_prune.codegen.ops.conv import FAST_ACCUMULATOR_LIMIT, choose_variant

HERE = Path(__file__).resolve().parent
CHECK = HERE / "requant_exact.c"
INCLUDES = [f"-I{KERNELS / 'include'}", f"-I{KERNELS / 'dsp'}"]


def test_host_every_shift_matches_reference(tmp_path):
    exe = tmp_path / "rq"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover", *INCLUDES, str(CHECK), "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0 and re.search(r"requant ok \d+", r.stdout), r.stdout + r.stderr


@pytest.mark.qemu
@pytest.mark.skipif(not Q.tools_available(), reason="arm-none-eabi-gcc/qemu-system-arm absent")
@pytest.mark.parametrize("core", ["m4", "m55"])
def test_target_every_shift_matches_reference(tmp_path, core):
    flags, machine, flash, ram = Q.CORES[core]
    fabi = "-mfloat-abi=hard" if core == "m55" else "-mfloat-abi=soft"
    elf = tmp_path / "rq.elf"
    cmd = ["arm-none-eabi-gcc", *flags, "-mthumb", fabi, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
           "-DTP_ON_TARGET", "-DRANDOM_PER_SHIFT=3000", *INCLUDES, str(Q.HERE / "startup.c"), str(CHECK),
           "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
           f"-Wl,--defsym=TR_FLASH={flash:#x},--defsym=TR_RAM={ram:#x}", f"-T{Q.HERE / 'link.ld'}", "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    proc = subprocess.run(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "null",
                           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    m = re.search(r"requant ok (\d+)", out)
    assert m and int(m.group(1)) > 200_000, out[-2000:]


SHIM = r"""
#include "tp_nn_support.h"
#include "tp_requant_fast.h"
int32_t ref(int32_t x, int32_t m, int32_t sh) { return tp_requantize(x, m, sh, TP_ROUND_DOUBLE); }
int32_t fast(int32_t x, int32_t m, int32_t sh) { const tp_rq r = tp_rq_make(m, sh); return tp_rq_apply(x, &r); }
int32_t wide(int32_t x, int32_t m, int32_t sh) { const tp_rq r = tp_rq_make(m, sh); return tp_rq_apply_wide(x, &r); }
"""


@pytest.fixture(scope="module")
def rq(tmp_path_factory):
    d = tmp_path_factory.mktemp("rq")
    (d / "shim.c").write_text(SHIM)
    subprocess.run(["gcc", "-std=c99", "-O1", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", *INCLUDES,
                    str(d / "shim.c"), "-o", str(d / "librq.so")], check=True)
    lib = C.CDLL(str(d / "librq.so"))
    for f in (lib.ref, lib.fast, lib.wide):
        f.restype, f.argtypes = C.c_int32, [C.c_int32] * 3
    return lib


def clamp8(v, oo):
    return max(-128, min(127, v + oo))


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), taps=st.integers(1, 600), bias_bits=st.integers(0, 31),
       shift=st.integers(-31, 30), in_off=st.integers(-127, 128), oo=st.integers(-128, 127))
def test_chosen_variant_exact_on_layer_accumulators(rq, seed, taps, bias_bits, shift, in_off, oo):
    """Accumulators a layer can really produce (bias + sum w (x + offset), extremes included)
    requantize to the reference's int8 under the variant choose_variant() picks."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (1, taps))
    bias = np.array([int(rng.integers(-(2**bias_bits), 2**bias_bits))], np.int64).clip(-2**31, 2**31 - 1)
    mult = int(rng.integers(2**30, 2**31))
    variant, _ = choose_variant(w, bias, [shift], in_off)
    apply = rq.wide if variant == "fast-wide" else rq.fast
    xs = [rng.integers(-128, 128, taps) for _ in range(6)]
    # the extremes: every input at the end of its range that maximises or minimises the sum
    xs += [np.where(w > 0, 127, -128), np.where(w > 0, -128, 127)]
    for x in xs:
        acc = int(bias[0] + np.sum(w[0] * (x + in_off)))
        assert abs(acc) < 2**31
        if variant == "fast":
            assert shift >= 0 or abs(acc) < FAST_ACCUMULATOR_LIMIT
        assert clamp8(apply(acc, mult, shift), oo) == clamp8(rq.ref(acc, mult, shift), oo), (acc, mult, shift)


@settings(max_examples=2000, deadline=None)
@given(x=st.integers(-2**31, 2**31 - 1), mult=st.one_of(st.just(0), st.integers(2**30, 2**31 - 1)),
       shift=st.integers(-31, 30))
def test_wide_equals_reference_for_every_int32(rq, x, mult, shift):
    assert rq.wide(x, mult, shift) == rq.ref(x, mult, shift)
