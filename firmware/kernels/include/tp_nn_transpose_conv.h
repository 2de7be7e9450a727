/* tinyml-prune int8 kernels: TRANSPOSE_CONV. */
#ifndef TP_NN_TRANSPOSE_CONV_H
#define TP_NN_TRANSPOSE_CONV_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_TRANSPOSE_CONV_H */
