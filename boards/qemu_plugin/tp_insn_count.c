/*
 * tp_insn_count: a QEMU TCG plugin that counts the guest instructions executed between two
 * marker addresses, exactly and deterministically.
 *
 * QEMU 7.2 on Debian ships plugin support but no qemu-plugin.h, so the few API entry points
 * used here are declared below from the documented plugin API (version 1).
 *
 * Arguments (-plugin tp_insn_count.so,begin=0x...,end=0x...,out=/path[,layer=0x...,layer_size=N]):
 *   begin, end: addresses of the first instruction of the two marker functions
 *   out:        file that receives one line "<instructions>" each time `end` executes
 *   layer:      optional third marker (the per-layer hook, tp_mark_layer): each time it is
 *               entered, a line "L <instructions>" with the running count since `begin`
 *   layer_size: bytes of that marker function from `layer`; its own instructions are not
 *               counted, so a layer marker costs only its call site (it must be a leaf)
 * Every instruction gets an inline counter increment, so partial translation blocks (an
 * exception or interrupt in the middle of a block) are still counted exactly.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only passed through, never dereferenced */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

static uint64_t g_total;    /* instructions executed so far (single vCPU boards) */
static uint64_t g_at_begin; /* g_total when `begin` last executed */
static uint64_t g_begin, g_end;
static uint64_t g_layer, g_layer_size; /* 0: no layer marker */
static FILE *g_out;

static void on_begin(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    g_at_begin = g_total;
}

static void on_end(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    /* Both markers see their own inline increment in the same order, so the delta is exactly
     * the number of instructions executed from `begin` up to `end`. */
    fprintf(g_out, "%" PRIu64 "\n", g_total - g_at_begin);
    fflush(g_out);
}

static void on_layer(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    fprintf(g_out, "L %" PRIu64 "\n", g_total - g_at_begin);
}

static bool in_layer_marker(uint64_t pc)
{
    return g_layer != 0 && pc >= g_layer && pc < g_layer + g_layer_size;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (!in_layer_marker(pc)) {
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &g_total, 1);
        }
        if (g_layer != 0 && pc == g_layer) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_layer, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (pc == g_begin) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (pc == g_end) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    if (g_out != NULL) {
        fclose(g_out);
        g_out = NULL;
    }
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    const char *out = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "begin=", 6) == 0) {
            g_begin = strtoull(a + 6, NULL, 0);
        } else if (strncmp(a, "end=", 4) == 0) {
            g_end = strtoull(a + 4, NULL, 0);
        } else if (strncmp(a, "layer=", 6) == 0) {
            g_layer = strtoull(a + 6, NULL, 0);
        } else if (strncmp(a, "layer_size=", 11) == 0) {
            g_layer_size = strtoull(a + 11, NULL, 0);
        } else if (strncmp(a, "out=", 4) == 0) {
            out = a + 4;
        } else {
            fprintf(stderr, "tp_insn_count: unknown argument '%s'\n", a);
            return 1;
        }
    }
    if (g_begin == 0 || g_end == 0 || out == NULL) {
        fprintf(stderr, "tp_insn_count: need begin=ADDR,end=ADDR,out=FILE\n");
        return 1;
    }
    /* Thumb function symbols carry bit 0; instruction addresses do not. */
    g_begin &= ~(uint64_t)1;
    g_end &= ~(uint64_t)1;
    g_layer &= ~(uint64_t)1;
    g_out = fopen(out, "w");
    if (g_out == NULL) {
        fprintf(stderr, "tp_insn_count: cannot open %s\n", out);
        return 1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    return 0;
}
