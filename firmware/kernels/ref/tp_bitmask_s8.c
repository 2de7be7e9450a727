/* Bitmask int8 kernels: walk the set bits of each row's mask, one MAC per nonzero. */
#include "tp_sparse_common.h"

static void rows_bitmask(const void *filter, const int8_t *x, int32_t rows, int32_t cols, const int32_t *bias,
                         const tp_quant_params *quant, int32_t output_offset, const tp_activation *act,
                         int8_t *out)
{
    const tp_bitmask *f = (const tp_bitmask *)filter;
    const int8_t *v = f->values;
    const uint8_t *mask = f->mask;
    const int32_t mask_bytes = (cols + 7) / 8;
    for (int32_t o = 0; o < rows; o++) {
        int32_t acc = bias != NULL ? bias[o] : 0;
        for (int32_t byte = 0; byte < mask_bytes; byte++) {
            uint32_t bits = mask[byte];
            const int8_t *xb = x + byte * 8;
            while (bits != 0u) {
                const int32_t j = __builtin_ctz(bits);
                acc += (int32_t)*v++ * xb[j];
                bits &= bits - 1u;
            }
        }
        mask += mask_bytes;
        out[o] = tp_sparse_finish(acc, o, quant, output_offset, act);
    }
}

TP_SPARSE_ENTRY_POINTS(bitmask, tp_bitmask)
