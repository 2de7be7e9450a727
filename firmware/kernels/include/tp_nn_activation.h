/* tinyml-prune int8 kernels: Activations as ops (RELU family, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH) and int8 requantization (QUANTIZE). */
#ifndef TP_NN_ACTIVATION_H
#define TP_NN_ACTIVATION_H

#include <stdint.h>

#include "tp_nn_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* TP_NN_ACTIVATION_H */
