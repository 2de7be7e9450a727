/* tinyml-prune int8 kernels: Data movement (CONCATENATION, PAD, TRANSPOSE, STRIDED_SLICE/SLICE, SPLIT, PACK/UNPACK). */
#ifndef TP_NN_SHAPE_H
#define TP_NN_SHAPE_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_SHAPE_H */
