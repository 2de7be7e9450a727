/* qemu-m55: tp_mve_requantize() against the reference tp_requantize(), lane by lane.
 *
 * Edge grid: accumulators around 0, +-2^k, +-2^k +- 1, ties of every shift, INT32_MIN/MAX;
 * multipliers 0, 2^30, 2^30 + 1, 2^31 - 1, INT32_MIN and random ones; every shift of the
 * mode's range. Then RANDOM_TRIPLES random (x, M, shift) lanes. Prints the first
 * mismatch or "requant ok N" through semihosting. */
#include <stdio.h>

#include "tp_mve_support.h"

#ifndef RANDOM_TRIPLES
#define RANDOM_TRIPLES 200000
#endif

void tr_puts(const char *s);

static uint32_t rng_state = 0x9E3779B9u;

static uint32_t xorshift(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static long checked;

/* Four lanes through the vector code and through the reference; 1 on a mismatch. */
static int check4(const int32_t x[4], const int32_t m[4], const int32_t s[4], tp_mve_rq_mode mode,
                  tp_rounding rounding)
{
    int32_t got[4];
    vst1q_s32(got, tp_mve_requantize(vld1q_s32(x), vld1q_s32(m), vld1q_s32(s), mode));
    for (int i = 0; i < 4; i++) {
        const int32_t want = tp_requantize(x[i], m[i], s[i], rounding);
        if (got[i] != want) {
            char line[160];
            snprintf(line, sizeof line, "MISMATCH mode %d x=%ld m=%ld shift=%ld: got %ld want %ld\n", (int)mode,
                     (long)x[i], (long)m[i], (long)s[i], (long)got[i], (long)want);
            tr_puts(line);
            return 1;
        }
    }
    checked += 4;
    return 0;
}

/* Shift ranges the vector modes promise: double any of [-31, 8], single [-31, -1]. */
static void shift_range(tp_mve_rq_mode mode, int32_t *lo, int32_t *hi)
{
    *lo = -31;
    *hi = mode == TP_MVE_RQ_DOUBLE ? 8 : -1;
}

static int edge_grid(tp_mve_rq_mode mode, tp_rounding rounding)
{
    static const int32_t mults[] = {0, 1 << 30, (1 << 30) + 1, 0x5A5A5A5A, 0x7FFFFFFF, INT32_MIN};
    int32_t lo, hi;
    shift_range(mode, &lo, &hi);
    for (int32_t shift = lo; shift <= hi; shift++) {
        for (unsigned mi = 0; mi < sizeof mults / sizeof mults[0]; mi++) {
            const int32_t mult = mults[mi];
            if (mult == INT32_MIN && rounding == TP_ROUND_SINGLE) {
                continue; /* TFLite multipliers are in [2^30, 2^31) or 0 */
            }
            for (int k = 0; k < 31; k++) {
                const int32_t p = (int32_t)(UINT32_C(1) << k);
                const int32_t xs[] = {p, p - 1, p + 1, -p, -p - 1, -p + 1, INT32_MIN, INT32_MAX, 0, -1};
                for (unsigned i = 0; i < sizeof xs / sizeof xs[0]; i += 2) {
                    const int32_t x[4] = {xs[i], xs[i + 1], -xs[i + 1], xs[i] ^ 0x55};
                    const int32_t m[4] = {mult, mult, mult, mult};
                    const int32_t s[4] = {shift, shift, shift, shift};
                    if (check4(x, m, s, mode, rounding)) {
                        return 1;
                    }
                }
            }
        }
    }
    return 0;
}

/* Products landing exactly on rounding ties: x * M = (2q + 1) * 2^(t-1) for the lane's shift. */
static int ties(tp_mve_rq_mode mode, tp_rounding rounding)
{
    int32_t lo, hi;
    shift_range(mode, &lo, &hi);
    for (int32_t shift = lo; shift <= hi; shift++) {
        for (int32_t q = -40; q <= 40; q++) {
            /* M = 2^30 makes x * M * 2^(shift-31) = x * 2^(shift-1): ties at odd x for every shift < 1 */
            const int32_t x[4] = {2 * q + 1, -(2 * q + 1), (2 * q + 1) << 3, 4 * q + 2};
            const int32_t m[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
            const int32_t s[4] = {shift, shift, shift - 3 < lo ? lo : shift - 3, shift};
            if (check4(x, m, s, mode, rounding)) {
                return 1;
            }
        }
    }
    return 0;
}

static int random_lanes(tp_mve_rq_mode mode, tp_rounding rounding, long n)
{
    int32_t lo, hi;
    shift_range(mode, &lo, &hi);
    for (long i = 0; i < n; i += 4) {
        int32_t x[4], m[4], s[4];
        for (int j = 0; j < 4; j++) {
            const uint32_t r = xorshift();
            /* accumulator magnitudes from tiny to full range */
            x[j] = (int32_t)xorshift() >> (r & 31u);
            m[j] = (int32_t)((xorshift() >> 1) | (UINT32_C(1) << 30));
            s[j] = lo + (int32_t)((r >> 8) % (uint32_t)(hi - lo + 1));
        }
        if (check4(x, m, s, mode, rounding)) {
            return 1;
        }
    }
    return 0;
}

int main(void)
{
    int bad = 0;
    bad |= edge_grid(TP_MVE_RQ_DOUBLE, TP_ROUND_DOUBLE) || ties(TP_MVE_RQ_DOUBLE, TP_ROUND_DOUBLE) ||
           random_lanes(TP_MVE_RQ_DOUBLE, TP_ROUND_DOUBLE, RANDOM_TRIPLES);
    bad |= edge_grid(TP_MVE_RQ_SINGLE, TP_ROUND_SINGLE) || ties(TP_MVE_RQ_SINGLE, TP_ROUND_SINGLE) ||
           random_lanes(TP_MVE_RQ_SINGLE, TP_ROUND_SINGLE, RANDOM_TRIPLES);
    /* the plan: single rounding goes scalar as soon as one channel has shift >= 0 */
    const int32_t mults[3] = {1 << 30, 1 << 30, 1 << 30}, shifts_ok[3] = {-1, -5, -31}, shifts_no[3] = {-3, 0, -2};
    const tp_quant_params ok = {mults, shifts_ok, 1, TP_ROUND_SINGLE}, no = {mults, shifts_no, 1, TP_ROUND_SINGLE};
    const tp_quant_params dbl = {mults, shifts_no, 1, TP_ROUND_DOUBLE};
    if (tp_mve_requant_plan(&ok, 3) != TP_MVE_RQ_SINGLE || tp_mve_requant_plan(&no, 3) != TP_MVE_RQ_SCALAR ||
        tp_mve_requant_plan(&dbl, 3) != TP_MVE_RQ_DOUBLE) {
        tr_puts("MISMATCH requant plan\n");
        bad = 1;
    }
    if (!bad) {
        char line[64];
        snprintf(line, sizeof line, "requant ok %ld\n", checked);
        tr_puts(line);
    }
    return bad;
}
