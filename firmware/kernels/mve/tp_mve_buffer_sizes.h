/* Scratch sizes of the MVE (Helium) kernels: the one definition of each, used by the kernels'
 * *_get_buffer_size functions and compiled on its own for the host by the code generator,
 * which sizes every kernel call's scratch from these functions. No intrinsics here.
 *
 * Defining TP_MVE_BUFFER_SIZES_EXTERN before including this file makes the functions external
 * (the host build); otherwise they are static inline. */
#ifndef TP_MVE_BUFFER_SIZES_H
#define TP_MVE_BUFFER_SIZES_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef TP_MVE_BUFFER_SIZES_EXTERN
#define TP_MVE_SIZE_FN
#else
#define TP_MVE_SIZE_FN static inline
#endif

/* The gathered fields live on the stack (TP_MVE_CONV_PATCH_MAX): no caller scratch. */
TP_MVE_SIZE_FN int32_t tp_mve_convolve_s8_get_buffer_size(const tp_dims *input_dims, const tp_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

TP_MVE_SIZE_FN int32_t tp_mve_depthwise_conv_s8_get_buffer_size(const tp_dims *input_dims,
                                                                 const tp_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

TP_MVE_SIZE_FN int32_t tp_mve_fully_connected_s8_get_buffer_size(const tp_dims *filter_dims)
{
    (void)filter_dims;
    return 0;
}

#endif
