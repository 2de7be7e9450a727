"""Exact instruction counts on QEMU boards through our TCG plugin (``qemu_plugin/``).

QEMU does not model DWT->CYCCNT, and SysTick under ``-icount`` only resolves 40
instructions. The plugin counts every executed guest instruction between the entries of
two marker functions in the firmware (``tp_mark_begin``/``tp_mark_end`` by default) and
appends one line per measured region to a file the host reads after each inference.

With a layer marker (``tp_mark_layer``, compiled in by ``-DTP_PROFILE_LAYERS``) the plugin
also writes ``L <running count>`` each time the marker is entered, and does not count the
marker's own instructions: a layer marker then costs exactly its call site (see
``tinyml_prune/harness/layers.py``).
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
LAYER_SYMBOL = "tp_mark_layer"


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


def symbol(elf_path: str | Path, name: str) -> tuple[int, int]:
    """(address without the Thumb bit, size in bytes) of a symbol of the ELF."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if isinstance(section, SymbolTableSection):
                for sym in section.get_symbol_by_name(name) or []:
                    return int(sym["st_value"]) & ~1, int(sym["st_size"])
    raise BoardError(f"{elf_path}: symbol {name!r} not found (the firmware must define the timing markers)")


def symbol_address(elf_path: str | Path, name: str) -> int:
    return symbol(elf_path, name)[0]


@dataclass(frozen=True)
class Region:
    """One measured region: the running counts at each layer marker, and the total."""

    marks: tuple[int, ...]
    total: int


@dataclass
class InsnCounter:
    """The ``-plugin`` argument for one QEMU run, and the reader of its results."""

    elf: Path
    out: Path
    begin_symbol: str = BEGIN_SYMBOL
    end_symbol: str = END_SYMBOL
    layer_symbol: str | None = None  # e.g. LAYER_SYMBOL for a -DTP_PROFILE_LAYERS build

    def qemu_args(self) -> list[str]:
        begin = symbol_address(self.elf, self.begin_symbol)
        end = symbol_address(self.elf, self.end_symbol)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text("")
        arg = f"{plugin_library()},begin={begin:#x},end={end:#x},out={self.out}"
        if self.layer_symbol:
            layer, size = symbol(self.elf, self.layer_symbol)
            if size <= 0:
                raise BoardError(f"{self.elf}: {self.layer_symbol} has no size in the symbol table")
            arg += f",layer={layer:#x},layer_size={size}"
        return ["-plugin", arg]

    def _lines(self) -> list[str]:
        return self.out.read_text().splitlines() if self.out.exists() else []

    def counts(self) -> list[int]:
        """Every measured region so far, in execution order."""
        return [int(line) for line in self._lines() if line and not line.startswith("L")]

    def regions(self) -> list[Region]:
        """Every completed region with the layer marks seen since the previous one."""
        out, marks = [], []
        for line in self._lines():
            if line.startswith("L "):
                marks.append(int(line[2:]))
            elif line:
                out.append(Region(tuple(marks), int(line)))
                marks = []
        return out

    def last(self) -> int | None:
        c = self.counts()
        return c[-1] if c else None
