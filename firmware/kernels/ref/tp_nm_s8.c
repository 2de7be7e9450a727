/* N:M int8 kernels: n MACs per group of m inputs, positions read from the index bits. */
#include "tp_sparse_common.h"

static void rows_nm(const void *filter, const int8_t *x, int32_t rows, int32_t cols, const int32_t *bias,
                    const tp_quant_params *quant, int32_t output_offset, const tp_activation *act, int8_t *out)
{
    const tp_nm *f = (const tp_nm *)filter;
    const int32_t n = f->n, m = f->m;
    const int32_t bits = m <= 2 ? 1 : m <= 4 ? 2 : m <= 8 ? 3 : 4;
    const uint32_t field = (1u << bits) - 1u;
    const int32_t groups = (cols + m - 1) / m;
    const int32_t row_bytes = (groups * n * bits + 7) / 8;
    const int8_t *v = f->values;
    const uint8_t *index = f->index;
    for (int32_t o = 0; o < rows; o++) {
        int32_t acc = bias != NULL ? bias[o] : 0;
        int32_t bit = 0;
        int32_t g = 0;
        if (n == 2 && m == 4) {
            /* 2:4: one index byte holds the four 2-bit positions of two whole groups */
            const uint8_t *ib = index;
            for (; g + 2 <= groups && (g + 2) * 4 <= cols; g += 2, v += 4, ib++) {
                const uint32_t b = *ib;
                const int8_t *xg = x + g * 4;
                acc += v[0] * xg[b & 3u] + v[1] * xg[(b >> 2) & 3u] + v[2] * xg[4 + ((b >> 4) & 3u)] +
                       v[3] * xg[4 + (b >> 6)];
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
        index += row_bytes;
        out[o] = tp_sparse_finish(acc, o, quant, output_offset, act);
    }
}

TP_SPARSE_ENTRY_POINTS(nm, tp_nm)
