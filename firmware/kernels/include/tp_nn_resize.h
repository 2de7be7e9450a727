/* tinyml-prune int8 kernels: Resizing (RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR). */
#ifndef TP_NN_RESIZE_H
#define TP_NN_RESIZE_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_RESIZE_H */
