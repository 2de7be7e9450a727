/* The optimized kernels' requantizations against tp_requantize() (the reference), over every
 * shift the code generator emits (-31..30), multipliers {0} U [2^30, 2^31), edge and random
 * accumulators. Built for the host (portable SMMULR/QADD) and for Cortex-M4 (the DSP
 * instructions). Prints "requant ok N" (N = checks) or the first mismatches. */
#include <stdint.h>
#include <stdio.h>

#include "tp_nn_support.h"
#include "tp_requant_fast.h"

#ifdef TP_ON_TARGET
void tr_puts(const char *s);
#define SAY(...)                                \
    do {                                        \
        char line_[128];                        \
        snprintf(line_, sizeof line_, __VA_ARGS__); \
        tr_puts(line_);                         \
    } while (0)
#else
#define SAY(...) printf(__VA_ARGS__)
#endif

#ifndef RANDOM_PER_SHIFT
#define RANDOM_PER_SHIFT 20000
#endif

static uint32_t state = 2463534242u;
static uint32_t rnd(void)
{
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

static long checks, bad;

static int32_t clamp8(int32_t v, int32_t oo)
{
    const int64_t s = (int64_t)v + oo;
    return s < -128 ? -128 : s > 127 ? 127 : (int32_t)s;
}

/* The outputs agree after any output offset and the full int8 clamp. */
static int same_int8(int32_t a, int32_t b)
{
    static const int32_t oos[] = {-128, -5, 0, 7, 127};
    for (unsigned i = 0; i < sizeof oos / sizeof *oos; i++) {
        if (clamp8(a, oos[i]) != clamp8(b, oos[i])) {
            return 0;
        }
    }
    return 1;
}

static void fail(const char *what, int32_t x, int32_t m, int32_t sh, int32_t want, int32_t got)
{
    if (bad++ < 8) {
        SAY("MISMATCH %s x=%ld m=%ld shift=%ld want=%ld got=%ld\n", what, (long)x, (long)m, (long)sh, (long)want,
            (long)got);
    }
}

static void check(int32_t x, int32_t m, int32_t sh)
{
    const int32_t ref = tp_requantize(x, m, sh, TP_ROUND_DOUBLE);
    const tp_rq r = tp_rq_make(m, sh);
    const int32_t s = (int32_t)((uint32_t)x << (sh > 0 ? sh : 0));
    const int small = s > -(1 << 30) && s < (1 << 30);
    const int in_contract = sh >= 0 || (x > -(1 << 30) && x < (1 << 30));
    checks++;
    /* wide: the same int32 for every accumulator */
    const int32_t wide = tp_rq_apply_wide(x, &r);
    if (wide != ref) {
        fail("wide", x, m, sh, ref, wide);
    }
    const int32_t fast = tp_rq_apply(x, &r);
    const int32_t bounded = tp_requant_double_bounded(x, m, sh);
    if (fast != bounded) {
        fail("fast-vs-bounded", x, m, sh, bounded, fast);
    }
    if (small && fast != ref) {
        fail("fast-int32", x, m, sh, ref, fast);
    }
    if (in_contract && !same_int8(fast, ref)) {
        fail("fast-int8", x, m, sh, ref, fast);
    }
    if (sh < 0 && in_contract) {
        const tp_rq_right rr = tp_rq_right_make(m, sh);
        const int32_t right = tp_rq_right_apply(x, &rr);
        if (right != fast) {
            fail("right-vs-fast", x, m, sh, fast, right);
        }
    }
}

int main(void)
{
    static const int32_t xs[] = {0, 1, -1, 2, -2, 3, -3, 255, -255, 1 << 20, -(1 << 20), (1 << 29) - 1,
                                 -(1 << 29) + 1, (1 << 30) - 1, -(1 << 30) + 1, 1 << 30, -(1 << 30),
                                 INT32_MAX, INT32_MIN, INT32_MIN + 1, 0x55555555, -0x55555555};
    static const int32_t ms[] = {0, 1 << 30, (1 << 30) + 1, 1518500250, 1073741824 + 12345, INT32_MAX, INT32_MAX - 1};
    for (int32_t sh = -31; sh <= 30; sh++) {
        for (unsigned j = 0; j < sizeof ms / sizeof *ms; j++) {
            for (unsigned i = 0; i < sizeof xs / sizeof *xs; i++) {
                check(xs[i], ms[j], sh);
            }
            /* every accumulator around each rounding tie of the right shift */
            for (int32_t k = -40; k <= 40; k++) {
                const int32_t e = sh < 0 ? -sh : 0;
                check((int32_t)((uint32_t)k << (e > 2 ? e - 2 : 0)) + (k & 1), ms[j], sh);
            }
        }
        for (long n = 0; n < RANDOM_PER_SHIFT; n++) {
            const int32_t x = (int32_t)rnd() >> (rnd() % 32);
            const int32_t m = (n % 5 == 0) ? 0 : (int32_t)((1u << 30) | (rnd() >> 2)) & (n % 3 ? ~0 : ~0xFFFF);
            check(x, m, sh);
        }
    }
    if (bad) {
        SAY("requant FAIL %ld of %ld\n", bad, checks);
        return 1;
    }
    SAY("requant ok %ld\n", checks);
    return 0;
}
