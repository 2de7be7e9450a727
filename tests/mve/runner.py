"""Run kernel cases on qemu-m55 (mps3-an547) with the MVE kernel set.

The cases and the bare-metal program are those of ``tests/formats/qemu_runner.py``; only
the build differs: MVE needs the hard-float ABI (GCC defines ``__ARM_FEATURE_MVE`` only
then), and the sources follow the board build's choice for a core with ``mve = true``:
each reference kernel replaced by ``mve/`` else ``dsp/`` else kept.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import jinja2

from formats import ckernels as K
from formats import qemu_runner as Q

VARIANT_ORDER = {"mve": ("mve", "dsp"), "dsp": ("dsp",), "ref": ()}


def sources(variant: str) -> list[Path]:
    chosen = {p.name: p for p in (K.KERNELS / "ref").glob("*.c")}
    for v in reversed(VARIANT_ORDER[variant]):
        chosen.update({p.name: p for p in (K.KERNELS / v).glob("*.c")})
    return sorted(chosen.values())


def compile_m55(c_files: list[Path], variant: str, elf: Path, defines=()) -> None:
    _, _, flash, ram = Q.CORES["m55"]
    incs = [f"-I{K.KERNELS / v}" for v in VARIANT_ORDER[variant]]
    cmd = ["arm-none-eabi-gcc", "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-O2", "-std=c99", "-Wall",
           "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections", *defines, *incs,
           f"-I{K.KERNELS / 'include'}", f"-I{K.KERNELS / 'ref'}", str(Q.HERE / "startup.c"), *map(str, c_files),
           "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
           f"-Wl,--defsym=TR_FLASH={flash:#x},--defsym=TR_RAM={ram:#x}", f"-T{Q.HERE / 'link.ld'}",
           "-Wl,--gc-sections", "-o", str(elf)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"building {elf.name} for cortex-m55 failed:\n{r.stderr[-3000:]}")


def run_elf(elf: Path, work: Path, timeout: float = 300, count: bool = True) -> tuple[str, list[int]]:
    """Run on mps3-an547 until the program exits; its semihosting output and, with
    ``count``, the exact instructions of each tp_mark_begin..tp_mark_end region."""
    from tinyml_prune.boards.insn_count import InsnCounter

    counter = InsnCounter(elf, work / "counts.txt") if count else None
    _, machine, _, _ = Q.CORES["m55"]
    qemu = ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none", "-serial", "null",
            "-semihosting-config", "enable=on,target=native", *(counter.qemu_args() if counter else []),
            "-kernel", str(elf)]
    proc = subprocess.run(qemu, capture_output=True, text=True, timeout=timeout)
    return proc.stdout + proc.stderr, counter.counts() if counter else []


def run(cases: list, variant: str, work: Path, defines=()) -> Q.Result:
    """Build the cases with the ``variant`` kernel set for cortex-m55 and run them."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Q.HERE), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    work.mkdir(parents=True, exist_ok=True)
    (work / "cases.c").write_text(env.get_template("cases.c.j2").render(
        cases=cases, max_out=max(c.out_size for c in cases), max_scratch=4096))
    elf = work / f"cases_{variant}_m55.elf"
    compile_m55([work / "cases.c", *sources(variant)], variant, elf, defines)
    out, counts = run_elf(elf, work)
    ok = [False] * len(cases)
    for m in re.finditer(r"case (\d+) (ok|FAIL)", out):
        ok[int(m.group(1))] = m.group(2) == "ok"
    return Q.Result(ok, counts, out)
