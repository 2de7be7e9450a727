/* tinyml-prune int8 kernels: Reductions (MEAN, SUM). */
#ifndef TP_NN_REDUCE_H
#define TP_NN_REDUCE_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_REDUCE_H */
