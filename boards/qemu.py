"""Emulated boards: QEMU runs the ELF; the serial port is a TCP socket.

The QEMU process is owned by the QemuBoard: it is killed on close(), at interpreter exit,
and — through PR_SET_PDEATHSIG — by the kernel if this Python process dies abruptly.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path

import serial

from tinyml_prune.errors import BoardClosed, BoardError, BoardTimeout

from .base import register
from .serial_link import SerialLink
from .config import BoardConfig
from .insn_count import LAYER_SYMBOL, InsnCounter

CONNECT_TIMEOUT_S = 15.0
_LIVE: "weakref.WeakSet[QemuBoard]" = weakref.WeakSet()


def _kill_all() -> None:
    for board in list(_LIVE):
        board.close()


atexit.register(_kill_all)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@register("qemu")
class QemuBoard(SerialLink):
    def __init__(self, config: BoardConfig, qemu: str = "qemu-system-arm", icount: bool = True,
                 exact: bool = False):
        super().__init__(config)
        self.qemu = qemu
        self.icount = icount
        self.exact = exact  # count instructions exactly with our TCG plugin (insn_count.py)
        self.counter: InsnCounter | None = None
        self.count_layers = False  # exact mode: also record the per-layer marker (TP_PROFILE_LAYERS builds)
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.serial = None
        self.log_path: Path | None = None
        self.command_extra: list[str] = []  # e.g. ["-S"] to start with the CPU stopped

    def command(self, elf: Path, port: int) -> list[str]:
        cmd = [self.qemu, "-M", self.config.connection.machine, "-nographic", "-monitor", "none",
               "-kernel", str(elf),
               "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
               "-semihosting-config", "enable=on,target=native"]
        if self.icount:
            # 1 ns of guest time per instruction: SysTick then counts instructions.
            cmd += ["-icount", "shift=0,align=off,sleep=off"]
        if self.counter is not None:
            cmd += self.counter.qemu_args()
        return cmd + self.command_extra

    def flash(self, elf: str | Path) -> None:
        """Boot ``elf`` in a fresh QEMU (killing any previous one this board owns)."""
        elf = Path(elf)
        if not elf.exists():
            raise BoardError(f"{elf} does not exist; run `tinyml build` first")
        if shutil.which(self.qemu) is None:
            raise BoardError(f"{self.qemu} is not installed (apt-get install qemu-system-arm)")
        self.close()
        self.port = _free_port()
        self.log_path = elf.parent / "qemu.log"
        self.counter = InsnCounter(elf, elf.parent / "insn_counts.txt",
                                   layer_symbol=LAYER_SYMBOL if self.count_layers else None) if self.exact else None
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(elf, self.port), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        log.close()
        _LIVE.add(self)

    def _qemu_output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace").strip()[-500:] if self.log_path else ""
        except OSError:
            return ""

    def _check_alive(self) -> None:
        if self.proc is None:
            raise BoardClosed(f"{self.config.name}: QEMU is not running (flash the board first)")
        code = self.proc.poll()
        if code is not None:
            out = self._qemu_output()
            raise BoardClosed(f"{self.config.name}: QEMU exited with code {code}" + (f": {out}" if out else ""))

    def open(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            self._check_alive()
            try:
                self.serial = serial.serial_for_url(f"socket://127.0.0.1:{self.port}", timeout=0.1)
                return
            except serial.SerialException:
                if time.monotonic() > deadline:
                    self.close()
                    raise BoardTimeout(f"{self.config.name}: QEMU did not open its serial port "
                                       f"within {CONNECT_TIMEOUT_S:.0f} s") from None
                time.sleep(0.05)

    def _link_lost(self, error: Exception) -> BoardClosed:
        self._check_alive()  # a dead QEMU is reported as such, with its exit code
        return BoardClosed(f"{self.config.name}: the serial connection to QEMU was closed")

    def _before_timeout(self) -> None:
        self._check_alive()

    def wait_exit(self, timeout: float) -> int:
        """Wait for QEMU to leave by itself (after the EXIT command); its exit code."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise BoardTimeout(f"{self.config.name}: QEMU did not exit within {timeout:.0f} s") from None

    def close(self) -> None:
        if self.serial is not None:
            try:
                self.serial.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass
            self.serial = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        _LIVE.discard(self)

    def exact_count(self) -> int | None:
        """Instructions of the last measured region (exact mode only)."""
        return self.counter.last() if self.counter is not None else None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None
