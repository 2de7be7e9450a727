"""Real boards: flashed by pyocd or openocd, reached over a USB serial port."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import serial
from serial.tools import list_ports

from tinyml_prune.errors import BoardClosed, BoardError, BoardTimeout

from .base import register
from .serial_link import SerialLink
from .config import BoardConfig

FLASH_TIMEOUT_S = 180
BOOT_SETTLE_S = 0.5


@register("serial")
class SerialBoard(SerialLink):
    def __init__(self, config: BoardConfig, port: str | None = None, probe: str | None = None):
        super().__init__(config)
        self.port = port
        self.probe = probe
        self.serial = None

    def flash_command(self, elf: Path) -> list[str]:
        c = self.config.connection
        if c.flasher == "pyocd":
            cmd = ["pyocd", "flash", "--target", c.target, "--format", "elf"]
            if self.probe:
                cmd += ["--uid", self.probe]
            return cmd + [str(elf)]
        if c.flasher == "openocd":
            return ["openocd", "-f", "interface/cmsis-dap.cfg", "-f", f"target/{c.target}.cfg",
                    "-c", "adapter speed 5000", "-c", f"program {elf} verify reset exit"]
        raise BoardError(f"{self.config.name}: unknown flasher {c.flasher!r} (pyocd, openocd)")

    def flash(self, elf: str | Path) -> None:
        elf = Path(elf)
        if not elf.exists():
            raise BoardError(f"{elf} does not exist; run `tinyml build` first")
        cmd = self.flash_command(elf)
        if shutil.which(cmd[0]) is None:
            hint = "pip install 'tinyml-prune[hw]'" if cmd[0] == "pyocd" else "apt-get install openocd"
            raise BoardError(f"{self.config.name}: {cmd[0]} is not installed ({hint})")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=FLASH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise BoardTimeout(f"{self.config.name}: {cmd[0]} did not finish within {FLASH_TIMEOUT_S} s") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
            raise BoardError(f"{self.config.name}: flashing with {cmd[0]} failed:\n{tail}")

    def find_port(self) -> str:
        if self.port:
            return self.port
        c = self.config.connection
        if c.usb_vid is None:
            raise BoardError(f"{self.config.name}: no USB id known for its serial port; pass --port")
        found = [p.device for p in list_ports.comports() if p.vid == c.usb_vid and (c.usb_pid is None or p.pid == c.usb_pid)]
        if not found:
            raise BoardError(f"{self.config.name}: no serial port with USB id {c.usb_vid:04x}:{c.usb_pid or 0:04x}; "
                             "is the board connected? (or pass --port)")
        if len(found) > 1:
            raise BoardError(f"{self.config.name}: several matching serial ports ({', '.join(found)}); pass --port")
        return found[0]

    def open(self) -> None:
        port = self.find_port()
        try:
            self.serial = serial.serial_for_url(port, baudrate=self.config.uart.baud, timeout=0.1)
        except serial.SerialException as e:
            raise BoardError(f"{self.config.name}: cannot open {port}: {e}") from None
        time.sleep(BOOT_SETTLE_S)
        self.serial.reset_input_buffer()

    def _link_lost(self, error: Exception) -> BoardClosed:
        return BoardClosed(f"{self.config.name}: the serial port went away ({error})")

    def close(self) -> None:
        if self.serial is not None:
            try:
                self.serial.close()
            except Exception:  # noqa: BLE001
                pass
            self.serial = None
