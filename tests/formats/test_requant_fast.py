"""tp_requantize_fast (optimized variants) equals tp_requantize (reference) everywhere we
can reach: edge values plus millions of random (x, multiplier, shift) triples, in C."""
from __future__ import annotations

import subprocess

from .ckernels import KERNELS

SHIM = r"""
#include <stdio.h>
#include "tp_nn_support.h"
#include "tp_requant_fast.h"
static uint64_t s = 88172645463325252ull;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (uint32_t)s; }
static long check(int32_t x, int32_t m, int32_t sh, tp_rounding r)
{
    if (tp_requantize(x, m, sh, r) != tp_requantize_fast(x, m, sh, r)) {
        printf("x=%ld m=%ld shift=%ld rounding=%d\n", (long)x, (long)m, (long)sh, (int)r);
        return 1;
    }
    return 0;
}
int main(void)
{
    long bad = 0;
    const int32_t xs[] = {0, 1, -1, 2, -2, 3, -3, 1 << 20, -(1 << 20), INT32_MAX, INT32_MIN, INT32_MIN + 1};
    const int32_t ms[] = {1 << 30, (1 << 30) + 1, INT32_MAX, 1518500250, 1073741824 + 12345};
    for (unsigned i = 0; i < sizeof xs / sizeof *xs; i++)
        for (unsigned j = 0; j < sizeof ms / sizeof *ms; j++)
            for (int32_t sh = -31; sh <= 0; sh++)
                bad += check(xs[i], ms[j], sh, TP_ROUND_DOUBLE) + (sh > -31 ? check(xs[i] >> 8, ms[j], sh, TP_ROUND_SINGLE) : 0);
    for (long n = 0; n < 3000000 && bad < 5; n++) {
        /* accumulators of realistic and extreme size; ties made likely by low-entropy values */
        const int32_t x = (int32_t)rnd() >> (rnd() % 31);
        const int32_t m = (int32_t)((1u << 30) | (rnd() >> 2)) & (n % 3 ? ~0 : ~0xFFFF);
        const int32_t sh = -(int32_t)(rnd() % 20) + (n % 7 == 0 ? 3 : 0);
        bad += check(x, m, sh, TP_ROUND_DOUBLE);
        if (sh <= 0) bad += check(x >> 4, m, sh, TP_ROUND_SINGLE);
    }
    printf("mismatches %ld\n", bad);
    return bad != 0;
}
"""


def test_fast_requantization_equals_reference(tmp_path):
    src = tmp_path / "shim.c"
    src.write_text(SHIM)
    exe = tmp_path / "shim"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-fsanitize=undefined", "-fno-sanitize-recover",
                    f"-I{KERNELS / 'include'}", f"-I{KERNELS / 'dsp'}", str(src), "-o", str(exe)], check=True)
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
