/* Scratch sizes of the DSP-extension kernels: the one definition of each formula, used by the
 * kernels (their *_get_buffer_size functions and their checks) and compiled on its own for the
 * host by the code generator, which sizes every kernel call's scratch from these functions.
 * No intrinsics here, so that the host compiler takes this file as it is.
 *
 * Defining TP_DSP_BUFFER_SIZES_EXTERN before including this file makes the functions external
 * (the host build: gcc -x c tp_dsp_buffer_sizes.h -DTP_DSP_BUFFER_SIZES_EXTERN); otherwise they
 * are static inline. */
#ifndef TP_DSP_BUFFER_SIZES_H
#define TP_DSP_BUFFER_SIZES_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef TP_DSP_BUFFER_SIZES_EXTERN
#define TP_DSP_SIZE_FN
#else
#define TP_DSP_SIZE_FN static inline
#endif

/* A 1x1 convolution without padding reads its pixels straight from the NHWC input. */
static inline int tp_sparse_pointwise(const tp_conv_params *p, const tp_dims *fd)
{
    return fd->h == 1 && fd->w == 1 && p->padding.h == 0 && p->padding.w == 0;
}

/* CONV_2D, GEMM variants: a pixel pair, patch rounded up to a multiple of 4 (p4): p4 words of
 * widened inputs, per group of 4 taps [a(0,2), b(0,2), a(1,3), b(1,3)] (a, b the two pixels),
 * then two int8 patches of p4 bytes; + 4 to align the words. */
TP_DSP_SIZE_FN int32_t tp_dsp_convolve_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims)
{
    (void)input_dims;
    const int32_t p4 = (filter_dims->h * filter_dims->w * filter_dims->c + 3) & ~3;
    return 6 * p4 + 4;
}

TP_DSP_SIZE_FN int32_t tp_dsp_depthwise_conv_s8_get_buffer_size(const tp_dims *input_dims,
                                                                 const tp_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

TP_DSP_SIZE_FN int32_t tp_dsp_fully_connected_s8_get_buffer_size(const tp_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

/* CSR convolution: one pixel's int8 patch (none when pointwise). */
TP_DSP_SIZE_FN int32_t tp_dsp_convolve_csr_s8_get_buffer_size(const tp_conv_params *params,
                                                               const tp_dims *filter_dims)
{
    return tp_sparse_pointwise(params, filter_dims) ? 0 : filter_dims->h * filter_dims->w * filter_dims->c;
}

/* N:M convolution, 2:4 fast path: per group of 4 taps the pair table of four pixels (11 slots x
 * 4 pixels x an int16 pair = 176 bytes) and four int8 patches (16 bytes), + 4 to align. It also
 * covers the portable loop's single patch. */
#define TP_DSP_NM_SLOTS 11 /* index nibbles 4..14 */
#define TP_DSP_NM_GROUP_BYTES (TP_DSP_NM_SLOTS * 16)

static inline int32_t tp_dsp_nm_scratch(int32_t groups)
{
    return TP_DSP_NM_GROUP_BYTES * groups + 16 * groups + 4;
}

TP_DSP_SIZE_FN int32_t tp_dsp_convolve_nm_s8_get_buffer_size(const tp_conv_params *params,
                                                              const tp_dims *filter_dims)
{
    (void)params;
    return tp_dsp_nm_scratch((filter_dims->h * filter_dims->w * filter_dims->c + 3) >> 2);
}

#endif
