#include "tp_port.h"
#include "tp_runtime.h"

int main(void)
{
    tp_port_init();
    tp_timer_init();
    tp_runtime_serve();
    return 0;
}
