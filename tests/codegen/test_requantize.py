"""The one Python requantizer (codegen.quantization) equals the kernels' tp_requantize, compiled
for the host, on edge and random accumulators for every shift and both roundings; the slim pass's
scalar mirrors and the Ampere path's per-channel requantization go through it."""
from __future__ import annotations

import ctypes as C
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyml_prune.codegen.quantization import Rounding, multiply_by_quantized_multiplier, requantize
from tinyml_prune.codegen.slim import arith
from tinyml_prune.ampere.requant import requantize as ampere_requantize

INCLUDE = Path(__file__).resolve().parents[2] / "firmware" / "kernels" / "include"
SHIM = r"""
#include "tp_nn_support.h"
void rq_many(const int32_t *x, const int32_t *m, const int32_t *s, int32_t *out, int n, int single)
{
    for (int i = 0; i < n; ++i)
        out[i] = tp_requantize(x[i], m[i], s[i], single ? TP_ROUND_SINGLE : TP_ROUND_DOUBLE);
}
"""
EDGES = [-(2**31), -(2**31) + 1, -(2**30), -12345, -3, -2, -1, 0, 1, 2, 3, 127, 2**30, 2**31 - 1]


@pytest.fixture(scope="module")
def c_requantize(tmp_path_factory):
    d = tmp_path_factory.mktemp("rq")
    (d / "shim.c").write_text(SHIM)
    subprocess.run(["gcc", "-std=c99", "-O1", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", f"-I{INCLUDE}",
                    str(d / "shim.c"), "-o", str(d / "librq.so")], check=True)
    lib = C.CDLL(str(d / "librq.so"))
    p = C.POINTER(C.c_int32)

    def run(x, m, s, rounding):
        x, m, s = (np.ascontiguousarray(v, np.int32) for v in np.broadcast_arrays(x, m, s))
        out = np.zeros(x.shape, np.int32)
        lib.rq_many(x.ctypes.data_as(p), m.ctypes.data_as(p), s.ctypes.data_as(p), out.ctypes.data_as(p),
                    C.c_int(x.size), C.c_int(rounding is Rounding.SINGLE))
        return out.astype(np.int64)

    return run


@pytest.mark.parametrize("rounding", list(Rounding))
def test_matches_tp_requantize_every_shift(c_requantize, rounding):
    rng = np.random.default_rng(7)
    shifts = np.arange(-31, 31)
    for shift in shifts:
        x = np.concatenate([EDGES, rng.integers(-(2**31), 2**31, 400), rng.integers(-4096, 4096, 200)])
        m = np.concatenate([[2**30, 2**31 - 1, 0], rng.integers(2**30, 2**31, x.size - 3)])
        got = multiply_by_quantized_multiplier(x, m, shift, rounding)
        np.testing.assert_array_equal(got, c_requantize(x, m, shift, rounding), err_msg=f"shift {shift}")


def test_rounding_names():
    assert Rounding.of("TP_ROUND_SINGLE") is Rounding.SINGLE is Rounding.of("single")
    assert Rounding.of(Rounding.DOUBLE).c_name == "TP_ROUND_DOUBLE"
    with pytest.raises(ValueError, match="single or double"):
        Rounding.of("nearest")


def test_channel_axis_and_clamp(c_requantize):
    rng = np.random.default_rng(3)
    acc = rng.integers(-(2**20), 2**20, (5, 7))
    mult, shift = rng.integers(2**30, 2**31, 5), rng.integers(-12, 2, 5)
    want = np.clip(c_requantize(acc, mult[:, None], shift[:, None], Rounding.DOUBLE) - 3, -100, 90)
    np.testing.assert_array_equal(requantize(acc, mult, shift, -3, -100, 90, "double", axis=0), want)
    np.testing.assert_array_equal(ampere_requantize(acc, mult, shift, -3, -100, 90, "double"), want)
    # per-tensor constants broadcast over every element
    np.testing.assert_array_equal(requantize(acc, mult[:1], shift[:1], 0, -128, 127, Rounding.SINGLE),
                                  np.clip(c_requantize(acc, mult[0], shift[0], Rounding.SINGLE), -128, 127))


def test_slim_scalars_agree(c_requantize):
    for x, m, s in [(2**31 + 5, 2**30, -3), (-(2**33), 2**31 - 1, 4), (123456, 1518500250, -9)]:
        for r in Rounding:
            want = int(c_requantize(arith.wrap32(x), m, s, r).reshape(-1)[0])
            assert arith.requantize(x, m, s, r.c_name) == want
