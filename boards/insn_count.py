"""Exact instruction counts on QEMU boards through our TCG plugin (``qemu_plugin/``).

QEMU does not model DWT->CYCCNT, and SysTick under ``-icount`` only resolves 40
instructions. The plugin counts every executed guest instruction between the entries of
two marker functions in the firmware (``tp_mark_begin``/``tp_mark_end`` by default) and
appends one line per measured region to a file the host reads after each inference.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tinyml_prune.errors import BoardError

PLUGIN_SOURCE = Path(__file__).resolve().parent / "qemu_plugin" / "tp_insn_count.c"
BEGIN_SYMBOL = "tp_mark_begin"
END_SYMBOL = "tp_mark_end"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "tinyml-prune"


def plugin_library(cc: str = "gcc") -> Path:
    """Build (once per source version) and return the plugin's shared library."""
    src = PLUGIN_SOURCE.read_bytes()
    tag = hashlib.sha256(src).hexdigest()[:12]
    lib = _cache_dir() / f"tp_insn_count-{tag}.so"
    if lib.exists():
        return lib
    if shutil.which(cc) is None:
        raise BoardError(f"exact instruction counting needs a host C compiler ({cc} not found)")
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    cmd = [cc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden",
           "-o", str(tmp), str(PLUGIN_SOURCE)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BoardError(f"building the QEMU instruction-count plugin failed:\n{r.stderr.strip()}")
    os.replace(tmp, lib)
    return lib


def symbol_address(elf_path: str | Path, name: str) -> int:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if isinstance(section, SymbolTableSection):
                for sym in section.get_symbol_by_name(name) or []:
                    return int(sym["st_value"]) & ~1
    raise BoardError(f"{elf_path}: symbol {name!r} not found (the firmware must define the timing markers)")


@dataclass
class InsnCounter:
    """The ``-plugin`` argument for one QEMU run, and the reader of its results."""

    elf: Path
    out: Path
    begin_symbol: str = BEGIN_SYMBOL
    end_symbol: str = END_SYMBOL

    def qemu_args(self) -> list[str]:
        begin = symbol_address(self.elf, self.begin_symbol)
        end = symbol_address(self.elf, self.end_symbol)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text("")
        return ["-plugin", f"{plugin_library()},begin={begin:#x},end={end:#x},out={self.out}"]

    def counts(self) -> list[int]:
        """Every measured region so far, in execution order."""
        if not self.out.exists():
            return []
        return [int(line) for line in self.out.read_text().split()]

    def last(self) -> int | None:
        c = self.counts()
        return c[-1] if c else None
