/* RP2040 second-stage boot loader (the first 256 bytes of flash). The boot ROM copies it
 * to SRAM, checks the CRC-32 in its last 4 bytes (patched in after linking by
 * boot2_crc.c) and runs it. It asks the ROM to put the flash in its plain 03h XIP read
 * mode (slow, but works with every flash chip), points VTOR at our vector table right
 * after these 256 bytes, and jumps to Reset_Handler. Position independent: it runs at
 * 0x20041F00, not where it is linked. */
__attribute__((naked, used, section(".boot2"))) void tp_boot2(void)
{
    __asm volatile(
        "movs r3, #0x14\n\t"
        "ldrh r0, [r3]\n\t"      /* ROM function table */
        "movs r3, #0x18\n\t"
        "ldrh r2, [r3]\n\t"      /* rom_table_lookup(table, code) */
        "ldr r1, 1f\n\t"         /* 'C' | 'X' << 8: flash_enter_cmd_xip */
        "blx r2\n\t"
        "blx r0\n\t"
        "ldr r0, 2f\n\t"
        "ldr r1, 3f\n\t"
        "str r0, [r1]\n\t"       /* VTOR = vector table */
        "ldmia r0!, {r1, r2}\n\t"
        "msr msp, r1\n\t"
        "bx r2\n\t"
        ".align 2\n"
        "1: .word 0x5843\n"
        "2: .word 0x10000100\n"
        "3: .word 0xE000ED08\n");
}
