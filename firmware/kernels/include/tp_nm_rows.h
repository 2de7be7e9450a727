/* The portable N:M row loop shared by the reference kernel and the DSP variant's
 * fallbacks: one output's dot product over a row of tp_nm groups. */
#ifndef TP_NM_ROWS_H
#define TP_NM_ROWS_H

#include "tp_nn_sparse.h"

/* sum over row `o` of w * x, for a row of `cols` inputs; the row's values start at
 * f->values + o * groups * n, its index bits at f->index + o * row_bytes. */
static inline int32_t tp_nm_row_dot(const tp_nm *f, int32_t o, const int8_t *x, int32_t cols, int32_t acc)
{
    const int32_t n = f->n, m = f->m;
    const int32_t bits = m <= 2 ? 1 : m <= 4 ? 2 : m <= 8 ? 3 : 4;
    const uint32_t field = (1u << bits) - 1u;
    const int32_t groups = (cols + m - 1) / m;
    const int32_t row_bytes = (groups * n * bits + 7) / 8;
    const int8_t *v = f->values + (int64_t)o * groups * n;
    const uint8_t *index = f->index + (int64_t)o * row_bytes;
    int32_t bit = 0;
    int32_t g = 0;
    if (n == 2 && m == 4) {
        /* 2:4: one index byte holds the four 2-bit positions of a pair of groups (A, B),
         * whose values are stored a0 b0 a1 b1 (tp_nn_sparse.h) */
        const uint8_t *ib = index;
        for (; g + 2 <= groups; g += 2, v += 4, ib++) {
            const uint32_t b = *ib;
            const int32_t pa0 = g * 4 + (int32_t)(b & 3u), pa1 = g * 4 + (int32_t)((b >> 2) & 3u);
            const int32_t pb0 = g * 4 + 4 + (int32_t)((b >> 4) & 3u), pb1 = g * 4 + 4 + (int32_t)(b >> 6);
            if ((g + 2) * 4 <= cols) {
                acc += v[0] * x[pa0] + v[2] * x[pa1] + v[1] * x[pb0] + v[3] * x[pb1];
            } else { /* the short last group may point past the row; its values are 0 */
                acc += (pa0 < cols ? v[0] * x[pa0] : 0) + (pa1 < cols ? v[2] * x[pa1] : 0) +
                       (pb0 < cols ? v[1] * x[pb0] : 0) + (pb1 < cols ? v[3] * x[pb1] : 0);
            }
        }
        bit = g * n * bits;
    }
    for (; g < groups; g++) {
        const int32_t base = g * m;
        for (int32_t j = 0; j < n; j++, bit += bits) {
            /* a field never straddles more than two bytes (bits <= 4 divides 8 or fits) */
            uint32_t word = index[bit >> 3];
            if ((bit & 7) + bits > 8) {
                word |= (uint32_t)index[(bit >> 3) + 1] << 8;
            }
            const int32_t col = base + (int32_t)((word >> (bit & 7)) & field);
            const int32_t w = *v++;
            if (col < cols) { /* the short last group may point past the row; its value is 0 */
                acc += w * x[col];
            }
        }
    }
    return acc;
}

#endif /* TP_NM_ROWS_H */
