/* CSR int8 kernels: one multiply-accumulate per stored nonzero. */
#include "tp_sparse_common.h"

static void rows_csr(const void *filter, const int8_t *x, int32_t rows, int32_t cols, const int32_t *bias,
                     const tp_quant_params *quant, int32_t output_offset, const tp_activation *act, int8_t *out)
{
    (void)cols;
    const tp_csr *f = (const tp_csr *)filter;
    const int8_t *v = f->values;
    const uint8_t *c8 = f->cols8;
    const uint16_t *c16 = f->cols16;
    for (int32_t o = 0; o < rows; o++) {
        int32_t acc = bias != NULL ? bias[o] : 0;
        const int32_t n = f->row_len[o];
        if (c8 != NULL) {
            for (int32_t k = 0; k < n; k++) {
                acc += (int32_t)v[k] * x[c8[k]];
            }
            c8 += n;
        } else {
            for (int32_t k = 0; k < n; k++) {
                acc += (int32_t)v[k] * x[c16[k]];
            }
            c16 += n;
        }
        v += n;
        out[o] = tp_sparse_finish(acc, o, quant, output_offset, act);
    }
}

TP_SPARSE_ENTRY_POINTS(csr, tp_csr)
