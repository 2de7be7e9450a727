/* A hand-written stand-in for a generated model (the model.h contract):
 * a deterministic integer transform mirrored in tests/boards/fake.py. */
#ifndef TP_MODEL_H
#define TP_MODEL_H
#include <stdint.h>

#define TP_MODEL_INPUT_SIZE 16
#define TP_MODEL_OUTPUT_SIZE 8
#define TP_MODEL_ARENA_SIZE 32

extern const char tp_model_sha256[];
int tp_model_run(const int8_t *input, int8_t *output);

#endif
