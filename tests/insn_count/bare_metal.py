"""Tiny bare-metal programs for the instruction-count plugin tests: build with
arm-none-eabi-gcc, run on QEMU mps2-an386 until the program exits by semihosting."""
import shutil
import subprocess

import pytest

LINKER = "SECTIONS { . = 0; .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } .bss 0x20000000 : { *(.bss*) } }\n"


def build_elf(d, program: str):
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("arm-none-eabi-gcc / qemu-system-arm not installed (run make setup)")
    (d / "t.c").write_text(program)
    (d / "t.ld").write_text(LINKER)
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-O2", "-nostdlib",
                    "-T", str(d / "t.ld"), str(d / "t.c"), "-o", str(d / "t.elf")], check=True)
    return d / "t.elf"


def run_counted(elf, counter):
    """Run ``elf`` to its semihosting exit with ``counter``'s plugin attached."""
    cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf), *counter.qemu_args()]
    subprocess.run(cmd, check=True, timeout=30, capture_output=True)
    return counter
