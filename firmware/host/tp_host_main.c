/* Host harness for a generated model: runs every input of a binary file through
 * tp_model_run and writes the outputs (and, with a third argument, every layer's output).
 *
 *   tp_host in.bin out.bin [trace.bin]
 *
 * in.bin holds N * TP_MODEL_INPUT_SIZE int8 values; out.bin gets N * TP_MODEL_OUTPUT_SIZE.
 * trace.bin gets records (int32 layer, int32 size, size bytes), built with -DTP_MODEL_TRACE.
 */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

static FILE *trace_file;

#ifdef TP_MODEL_TRACE
void tp_model_trace(int32_t layer, const int8_t *data, int32_t size)
{
    if (trace_file != NULL) {
        fwrite(&layer, sizeof layer, 1, trace_file);
        fwrite(&size, sizeof size, 1, trace_file);
        fwrite(data, 1, (size_t)size, trace_file);
    }
}
#endif

int main(int argc, char **argv)
{
    static int8_t input[TP_MODEL_INPUT_SIZE];
    static int8_t output[TP_MODEL_OUTPUT_SIZE];
    if (argc < 3) {
        fprintf(stderr, "usage: %s in.bin out.bin [trace.bin]\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    if (argc > 3 && (trace_file = fopen(argv[3], "wb")) == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[3]);
        return 2;
    }
    long n = 0;
    while (fread(input, 1, sizeof input, in) == sizeof input) {
        const int status = tp_model_run(input, output);
        if (status != 0) {
            fprintf(stderr, "input %ld: tp_model_run failed in layer %d\n", n, -status - 1);
            return 3;
        }
        if (fwrite(output, 1, sizeof output, out) != sizeof output) {
            fprintf(stderr, "write failed\n");
            return 2;
        }
        n++;
    }
    fclose(in);
    fclose(out);
    if (trace_file != NULL) {
        fclose(trace_file);
    }
    return 0;
}
