"""Byte I/O over a pyserial object, shared by every board reached through one
(QEMU's TCP serial and a real board's USB serial port)."""
from __future__ import annotations

import time

import serial

from tinyml_prune.errors import BoardClosed, BoardTimeout

from .base import Board


class SerialLink(Board):
    """read/write over ``self.serial``; subclasses open it and may check the far end."""

    serial = None  # a pyserial object once open() succeeded

    def _link_lost(self, error: Exception) -> BoardClosed:
        """The error for a connection that went away (QEMU checks first whether it died)."""
        return BoardClosed(f"{self.config.name}: the serial connection went away ({error})")

    def _before_timeout(self) -> None:
        """Called before a read times out (QEMU: report a dead emulator instead)."""

    def read(self, n: int, timeout: float) -> bytes:
        if self.serial is None:
            raise BoardClosed(f"{self.config.name}: not open")
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while len(buf) < n:
            try:
                buf += self.serial.read(n - len(buf))
            except (serial.SerialException, OSError) as e:
                raise self._link_lost(e) from None
            if len(buf) < n and time.monotonic() > deadline:
                self._before_timeout()
                raise BoardTimeout(f"{self.config.name}: no answer within {timeout:.1f} s "
                                   f"(got {len(buf)} of {n} bytes)")
        return bytes(buf)

    def write(self, data: bytes) -> None:
        if self.serial is None:
            raise BoardClosed(f"{self.config.name}: not open")
        try:
            self.serial.write(data)
        except (serial.SerialException, OSError) as e:
            raise self._link_lost(e) from None
