/* Types shared by the tinyml-prune int8 kernels (CMSIS-NN-like argument discipline).
 *
 * Every kernel takes (ctx, params, quant, dims, data...) and returns a tp_status. The
 * caller owns all memory: no kernel allocates. Requantization constants are computed
 * on the host and arrive as const data; kernels only do integer (or, for softmax,
 * IEEE single-precision) arithmetic that reproduces TensorFlow Lite's reference kernels.
 */
#ifndef TP_NN_TYPES_H
#define TP_NN_TYPES_H

#include <stdint.h>

typedef enum {
    TP_OK = 0,
    TP_ARG_ERROR = -1
} tp_status;

/* NHWC extents; unused dimensions are 1. */
typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} tp_dims;

typedef struct {
    int32_t w;
    int32_t h;
} tp_tile;

/* Output clamp in the quantized domain (fused RELU/RELU6 already folded in). */
typedef struct {
    int32_t min;
    int32_t max;
} tp_activation;

/* How x * M * 2^shift is rounded.
 * DOUBLE: gemmlowp style, a rounding doubling high multiply then a rounding right
 *         shift (TFLite reference CONV_2D/DEPTHWISE/ADD, TFLM and CMSIS-NN everywhere).
 * SINGLE: one 64-bit product, one round-half-up shift (TFLite 2.21 reference
 *         FULLY_CONNECTED). */
typedef enum {
    TP_ROUND_DOUBLE = 0,
    TP_ROUND_SINGLE = 1
} tp_rounding;

/* The code path an optimized kernel (firmware/kernels/dsp, mve) takes, chosen by the code
 * generator from the layer's shapes and constants and emitted with its parameters; the
 * reference kernels have one path and ignore it. A kernel whose chosen path's conditions do
 * not hold returns TP_ARG_ERROR rather than running another one.
 *   GENERIC:   the portable loop (shapes no optimized loop covers, e.g. depthwise with a
 *              channel multiplier other than 1);
 *   FAST:      the optimized loop; its requantization is exact when every accumulator of
 *              a channel whose shift is negative stays below 2^30 in magnitude (the
 *              generator checks that bound from the weights and biases);
 *   FAST_WIDE: the optimized loop with a requantization exact for every int32 accumulator. */
typedef enum {
    TP_VARIANT_GENERIC = 0,
    TP_VARIANT_FAST = 1,
    TP_VARIANT_FAST_WIDE = 2
} tp_kernel_variant;

/* Caller-provided scratch memory, sized by <kernel>_get_buffer_size(). */
typedef struct {
    void *buf;
    int32_t size;
} tp_context;

/* Fixed-point requantization: per output channel, or one entry for all. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t per_channel;
    tp_rounding rounding;
} tp_quant_params;

typedef struct {
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* output zero point */
    tp_tile stride;
    tp_tile padding;
    tp_tile dilation;
    tp_activation activation;
    tp_kernel_variant variant;
} tp_conv_params;

typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t ch_mult;
    tp_tile stride;
    tp_tile padding;
    tp_tile dilation;
    tp_activation activation;
    tp_kernel_variant variant;
} tp_dw_conv_params;

typedef struct {
    int32_t input_offset;
    int32_t filter_offset;
    int32_t output_offset;
    tp_activation activation;
    tp_kernel_variant variant;
} tp_fc_params;

typedef struct {
    tp_tile stride;
    tp_tile padding;
    tp_activation activation;
} tp_pool_params;

/* TFLite's int8 softmax: exp() of (max - x) looked up in a host-computed float table. */
typedef struct {
    const float *exp_table; /* 256 entries, exp_table[255 - d] = expf(-beta * scale * d) */
    float output_scale;
    int32_t output_offset;
} tp_softmax_params;

#endif /* TP_NN_TYPES_H */
