/* tinyml-prune int8 kernels: Elementwise binary ops with broadcasting (ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, PRELU). */
#ifndef TP_NN_ELEMENTWISE_H
#define TP_NN_ELEMENTWISE_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_ELEMENTWISE_H */
