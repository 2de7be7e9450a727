"""Board descriptions: one declarative TOML per board (``boards/<name>.toml``).

A TOML names the core and its extensions, memory, clock, UART and how the board is reached
(``[connection] kind = "qemu" | "serial"``). Everything the build and the harness need about a
board comes from here; nothing is hard-coded per board in Python.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from tinyml_prune.errors import BoardError

BOARDS_DIR = Path(__file__).resolve().parent

# GCC flags per core. The FPU comes from the TOML (`fpu = "none"` → soft float).
CORES = {
    "cortex-m0": "-mcpu=cortex-m0",
    "cortex-m0plus": "-mcpu=cortex-m0plus",
    "cortex-m3": "-mcpu=cortex-m3",
    "cortex-m4": "-mcpu=cortex-m4",
    "cortex-m7": "-mcpu=cortex-m7",
    "cortex-m33": "-mcpu=cortex-m33",
    "cortex-m55": "-mcpu=cortex-m55",
}
NO_VTOR = {"cortex-m0"}  # ARMv6-M without the optional VTOR
UART_DRIVERS = {"cmsdk", "nrf", "stm32-usart", "stm32-usart-v1", "stm32-lpuart", "pl011"}
TIMERS = {"systick", "dwt"}
CONNECTIONS = {"qemu", "serial"}


@dataclass(frozen=True)
class Region:
    origin: int
    size: int


@dataclass(frozen=True)
class Uart:
    driver: str
    base: int
    baud: int = 115200
    tx_pin: int | str | None = None
    rx_pin: int | str | None = None
    family: str | None = None
    af: int | None = None


@dataclass(frozen=True)
class Connection:
    kind: str
    machine: str | None = None  # QEMU -M
    flasher: str | None = None  # pyocd | openocd
    target: str | None = None  # flasher target name
    usb_vid: int | None = None
    usb_pid: int | None = None


@dataclass(frozen=True)
class BoardConfig:
    name: str
    description: str
    core: str
    fpu: str
    dsp: bool
    mve: bool
    clock_hz: int
    stack_bytes: int
    flash: Region
    ram: Region
    uart: Uart
    timer: str
    connection: Connection
    path: Path

    @property
    def emulated(self) -> bool:
        return self.connection.kind == "qemu"

    @property
    def latency_unit(self) -> str:
        # QEMU does not model cycles; SysTick under -icount shift=0 counts instructions.
        return "instructions" if self.emulated else "cycles"

    @property
    def has_fpu(self) -> bool:
        return self.fpu != "none"

    @property
    def has_vtor(self) -> bool:
        return self.core not in NO_VTOR

    @property
    def cpu_flags(self) -> list[str]:
        flags = [CORES[self.core], "-mthumb"]
        if self.has_fpu:
            if self.fpu != "auto":
                flags.append(f"-mfpu={self.fpu}")
            flags.append("-mfloat-abi=hard")
        else:
            flags.append("-mfloat-abi=soft")
        return flags

    @property
    def kernel_variants(self) -> list[str]:
        """Kernel directories to prefer, most specific first (dsp/ and mve/ hold the optimized variants)."""
        return (["mve"] if self.mve else []) + (["dsp"] if self.dsp else []) + ["reference"]


def _build(cls, table: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise BoardError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        return cls(**table)
    except TypeError as e:
        raise BoardError(f"{where}: {e}") from None


def load_file(path: str | Path) -> BoardConfig:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BoardError(f"cannot read board file {p}: {e}") from None
    raw = dict(raw)
    mem = raw.pop("memory", {})
    if set(mem) != {"flash", "ram"}:
        raise BoardError(f"{p}: [memory] needs exactly flash and ram (got {', '.join(mem) or 'nothing'})")
    raw["flash"] = _build(Region, mem["flash"], f"{p} [memory.flash]")
    raw["ram"] = _build(Region, mem["ram"], f"{p} [memory.ram]")
    raw["uart"] = _build(Uart, raw.pop("uart", {}), f"{p} [uart]")
    raw["timer"] = raw.pop("timer", {}).get("kind", "systick")
    raw["connection"] = _build(Connection, raw.pop("connection", {}), f"{p} [connection]")
    board = _build(BoardConfig, {**raw, "path": p}, str(p))
    _validate(board)
    return board


def _validate(b: BoardConfig) -> None:
    checks = [
        (b.core in CORES, f"core {b.core!r} (known: {', '.join(CORES)})"),
        (b.uart.driver in UART_DRIVERS, f"uart driver {b.uart.driver!r} (known: {', '.join(sorted(UART_DRIVERS))})"),
        (b.timer in TIMERS, f"timer {b.timer!r} (known: {', '.join(sorted(TIMERS))})"),
        (b.connection.kind in CONNECTIONS, f"connection {b.connection.kind!r} (known: {', '.join(sorted(CONNECTIONS))})"),
        (not (b.emulated and b.connection.machine is None), "a qemu board needs [connection] machine"),
        (b.clock_hz % 1000 == 0, f"clock_hz {b.clock_hz} must be a whole number of kHz"),
        (0 < b.stack_bytes < b.ram.size, f"stack_bytes {b.stack_bytes} does not fit RAM {b.ram.size}"),
    ]
    for ok, what in checks:
        if not ok:
            raise BoardError(f"{b.path}: unsupported {what}")


def board_names() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def load(name: str) -> BoardConfig:
    """A board by name (``qemu-m4``) or by path to a TOML file."""
    if name.endswith(".toml") or "/" in name:
        return load_file(name)
    p = BOARDS_DIR / f"{name}.toml"
    if not p.exists():
        raise BoardError(f"unknown board {name!r}; known boards: {', '.join(board_names())}")
    return load_file(p)


def all_boards() -> list[BoardConfig]:
    return [load(n) for n in board_names()]
