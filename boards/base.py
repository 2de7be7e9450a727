"""The Board interface: one class per kind of connection, registered by ``[connection] kind``.

``build`` turns a generated model directory into a firmware ELF for the board; ``flash``
puts that ELF on the board (boots QEMU, or runs the flasher); ``open``/``read``/``write``/
``close`` are the raw byte stream the protocol client (tinyml_prune.harness.protocol) uses.
Failures are typed: BoardTimeout (no answer in time), BoardClosed (the connection went
away), FitError (the image does not fit), BoardError (anything else about the board).
"""
from __future__ import annotations

import re
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path

from tinyml_prune.errors import BoardError, FitError

from .config import BoardConfig
from .project import Project, write_project

BOARD_KINDS: dict[str, type["Board"]] = {}

BUILD_TIMEOUT_S = 600
_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


def register(kind: str):
    def deco(cls):
        BOARD_KINDS[kind] = cls
        return cls

    return deco


class Board(ABC):
    """Base class; subclasses implement flash/open/read/write/close."""

    def __init__(self, config: BoardConfig):
        self.config = config

    # -- build -------------------------------------------------------------------------
    def build(self, root: str | Path, opt: str = "-O2", kernels: str = "auto") -> Project:
        """Write board/ and Makefile into ``root`` and run make; FitError if it cannot fit."""
        project = write_project(root, self.config, opt, kernels)
        self.check_fit(project)
        try:
            proc = subprocess.run(["make", "-C", str(project.root), f"OPT={opt}"],
                                  capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        except FileNotFoundError:
            raise BoardError("`make` is not installed") from None
        except subprocess.TimeoutExpired:
            raise BoardError(f"make in {project.root} took longer than {BUILD_TIMEOUT_S} s") from None
        if proc.returncode != 0:
            self._raise_build_failure(project, proc.stdout + proc.stderr)
        return project

    def check_fit(self, project: Project) -> None:
        """Refuse before compiling when the weights or the arena alone cannot fit."""
        m, c = project.manifest, self.config
        weights = int(m.get("weight_bytes", 0))
        if weights > c.flash.size:
            raise FitError(f"{c.name}: the weights need {weights} bytes of flash, the board has {c.flash.size}")
        ram = int(m["arena_bytes"]) + c.stack_bytes
        if ram > c.ram.size:
            raise FitError(f"{c.name}: the arena ({m['arena_bytes']} bytes) plus the stack "
                           f"({c.stack_bytes}) need {ram} bytes of RAM, the board has {c.ram.size}")

    def _raise_build_failure(self, project: Project, log: str) -> None:
        overflows = _OVERFLOW.findall(log)
        if overflows:
            sizes = {"FLASH": self.config.flash.size, "RAM": self.config.ram.size}
            parts = [f"{region} overflowed by {n} bytes (the board has {sizes.get(region, '?')})"
                     for region, n in overflows]
            raise FitError(f"{self.config.name}: the firmware does not fit: {'; '.join(parts)}")
        tail = "\n".join(log.strip().splitlines()[-15:])
        raise BoardError(f"build for {self.config.name} failed in {project.root}:\n{tail}")

    # -- connection --------------------------------------------------------------------
    @abstractmethod
    def flash(self, elf: str | Path) -> None:
        """Implemented by each connection kind."""

    @abstractmethod
    def open(self) -> None:
        """Implemented by each connection kind."""

    @abstractmethod
    def read(self, n: int, timeout: float) -> bytes:
        """Exactly ``n`` bytes, or BoardTimeout / BoardClosed."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Implemented by each connection kind."""

    @abstractmethod
    def close(self) -> None:
        """Implemented by each connection kind."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def make_board(config: BoardConfig, **options) -> Board:
    # Importing the modules registers their classes.
    from . import qemu, serial_board  # noqa: F401

    cls = BOARD_KINDS.get(config.connection.kind)
    if cls is None:
        raise BoardError(f"{config.name}: no board class for connection kind {config.connection.kind!r}")
    return cls(config, **options)
