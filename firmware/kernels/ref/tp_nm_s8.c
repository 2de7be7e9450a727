/* N:M int8 kernels: n MACs per group of m inputs, positions read from the index bits. */
#include "tp_nm_rows.h"
#include "tp_sparse_common.h"

static void rows_nm(const void *filter, const int8_t *x, int32_t rows, int32_t cols, const int32_t *bias,
                    const tp_quant_params *quant, int32_t output_offset, const tp_activation *act, int8_t *out)
{
    const tp_nm *f = (const tp_nm *)filter;
    for (int32_t o = 0; o < rows; o++) {
        const int32_t acc = tp_nm_row_dot(f, o, x, cols, bias != NULL ? bias[o] : 0);
        out[o] = tp_sparse_finish(acc, o, quant, output_offset, act);
    }
}

TP_SPARSE_ENTRY_POINTS(nm, tp_nm)
