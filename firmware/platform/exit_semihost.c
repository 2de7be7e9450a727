/* Exit through Arm semihosting (QEMU with -semihosting-config enable=on). */
#include "tp_port.h"

#define TP_SYS_EXIT 0x18u
#define TP_ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define TP_ADP_STOPPED_RUNTIME_ERROR 0x20023u

void tp_port_exit(int code)
{
    /* 32-bit semihosting SYS_EXIT takes the reason itself in r1 (no exit code):
     * a clean exit for 0, a runtime error otherwise. */
    register uint32_t r0 __asm("r0") = TP_SYS_EXIT;
    register uint32_t r1 __asm("r1") = code == 0 ? TP_ADP_STOPPED_APPLICATION_EXIT : TP_ADP_STOPPED_RUNTIME_ERROR;
    __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}
