/* Exit on hardware: no debugger to talk to, so stop here (a reset restarts the firmware). */
#include "tp_port.h"

void tp_port_exit(int code)
{
    (void)code;
    for (;;) {
        __asm volatile("wfi");
    }
}
