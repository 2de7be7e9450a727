/* tinyml-prune sparse int8 kernels: CSR, bitmask and N:M weight formats.
 *
 * The weights are a matrix [rows = output channels][cols = Kh*Kw*Cin] (TFLite order).
 * Unlike the dense kernels, the bias here is *folded*: bias[o] + input_offset * sum_k w[o][k],
 * computed on the host, so the kernels multiply raw int8 inputs and skip every zero.
 * Convolution pads with the input zero point (value -input_offset), which is what the
 * folded bias assumes; the result equals TFLite's bit for bit. Weights are symmetric
 * (FULLY_CONNECTED filter_offset must be 0).
 */
#ifndef TP_NN_SPARSE_H
#define TP_NN_SPARSE_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CSR: row o holds row_len[o] nonzeros; their columns in cols8 (cols <= 256) or cols16. */
typedef struct {
    const int8_t *values;
    const uint8_t *cols8;   /* exactly one of cols8 / cols16 is non-NULL */
    const uint16_t *cols16;
    const uint16_t *row_len;
} tp_csr;

/* Bitmask: per row ceil(cols/8) mask bytes (bit j%8 of byte j/8 = column j nonzero). */
typedef struct {
    const int8_t *values;
    const uint8_t *mask;
} tp_bitmask;

/* N:M: per row ceil(cols/m) groups of n values; positions log2(m) bits each, LSB-first,
 * each row's bit stream starting on a byte boundary. For 2:4 the values of each pair of
 * groups (A, B) are stored a0 b0 a1 b1 (SXTB16 unpacks A, the rotated word B), a last
 * unpaired group a0 a1. */
typedef struct {
    const int8_t *values;
    const uint8_t *index;
    int32_t n;
    int32_t m;
} tp_nm;

#define TP_SPARSE_KERNELS(fmt, type)                                                                       \
    tp_status tp_fully_connected_##fmt##_s8(const tp_context *ctx, const tp_fc_params *params,            \
                                            const tp_quant_params *quant, const tp_dims *input_dims,       \
                                            const int8_t *input, const tp_dims *filter_dims,              \
                                            const type *filter, const tp_dims *bias_dims,                 \
                                            const int32_t *bias, const tp_dims *output_dims, int8_t *output); \
    tp_status tp_convolve_##fmt##_s8(const tp_context *ctx, const tp_conv_params *params,                 \
                                     const tp_quant_params *quant, const tp_dims *input_dims,              \
                                     const int8_t *input, const tp_dims *filter_dims, const type *filter, \
                                     const tp_dims *bias_dims, const int32_t *bias,                       \
                                     const tp_dims *output_dims, int8_t *output);

TP_SPARSE_KERNELS(csr, tp_csr)
TP_SPARSE_KERNELS(bitmask, tp_bitmask)
TP_SPARSE_KERNELS(nm, tp_nm)

#undef TP_SPARSE_KERNELS

/* Scratch for the sparse convolutions: one im2col patch (Kh*Kw*Cin bytes), 0 for an
 * unpadded 1x1 convolution, whose patch is the input pixel itself. */
int32_t tp_convolve_sparse_s8_get_buffer_size(const tp_conv_params *params, const tp_dims *filter_dims);

/* Internal: one output pixel, all rows. Each format's file defines one. */
typedef void (*tp_sparse_rows_fn)(const void *filter, const int8_t *x, int32_t rows, int32_t cols,
                                  const int32_t *bias, const tp_quant_params *quant, int32_t output_offset,
                                  const tp_activation *act, int8_t *out);

tp_status tp_sparse_conv_driver(const tp_context *ctx, const tp_conv_params *params, const tp_quant_params *quant,
                                const tp_dims *input_dims, const int8_t *input, const tp_dims *filter_dims,
                                const void *filter, tp_sparse_rows_fn rows_fn, const int32_t *bias,
                                const tp_dims *output_dims, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_SPARSE_H */
