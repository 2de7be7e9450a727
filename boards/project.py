"""Turn a generated model directory into a standalone firmware project for one board.

``codegen`` writes model.c / weights.c / kernels/ / manifest.json; this adds ``board/``
(startup, UART driver, timer, runtime, generated board_config.h and link.ld) and a plain
``Makefile`` rendered from ``boards/templates`` — after which the directory builds with
``make`` alone.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2

from tinyml_prune import __version__
from tinyml_prune.errors import BoardError, ModelError

from tinyml_prune.firmware import ROOT as FIRMWARE_ROOT

from .config import BoardConfig

FIRMWARE = FIRMWARE_ROOT
TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNTIME_FILES = ["tp_protocol.h", "tp_runtime.h", "tp_runtime.c", "tp_crc32.c", "main.c"]

UART_SOURCES = {
    "cmsdk": "uart_cmsdk.c",
    "nrf": "uart_nrf.c",
    "stm32-usart": "uart_stm32.c",
    "stm32-usart-v1": "uart_stm32.c",
    "stm32-lpuart": "uart_stm32.c",
    "pl011": "uart_rp2040.c",
}
# RP2040's boot ROM runs the first 256 bytes of flash (boot2) before the vector table.
BOOT2 = {"rpi-pico": ("rp2040_boot2.c", 0x100)}
# ...whose CRC-32 a small host tool patches in after linking.
BOOT2_POST_LINK = [
    "$(HOSTCC) -O2 -o $(BUILD)/boot2_crc board/boot2_crc.c",
    "$(OBJCOPY) -O binary --only-section=.boot2 $@ $(BUILD)/boot2.bin",
    "$(BUILD)/boot2_crc $(BUILD)/boot2.bin $(BUILD)/boot2_patched.bin",
    "$(OBJCOPY) --update-section .boot2=$(BUILD)/boot2_patched.bin $@",
]


@dataclass(frozen=True)
class Project:
    root: Path
    board: BoardConfig
    manifest: dict

    @property
    def elf(self) -> Path:
        return self.root / "build" / "firmware.elf"


def read_manifest(root: Path) -> dict:
    path = root / "manifest.json"
    if not path.exists():
        raise ModelError(f"{root} is not a generated model directory: {path.name} is missing "
                         "(run `tinyml codegen MODEL.tflite -o DIR` first)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: not valid JSON ({e})") from None
    missing = [k for k in ("sources", "include_dirs", "arena_bytes", "model_sha256") if k not in manifest]
    if missing:
        raise ModelError(f"{path}: missing key(s) {', '.join(missing)}")
    return manifest


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _port_pin(pin: str) -> tuple[int, int]:
    """'G7' -> (6, 7): STM32 GPIO port index and pin number."""
    if not (isinstance(pin, str) and len(pin) >= 2 and pin[0].isalpha() and pin[1:].isdigit()):
        raise BoardError(f"STM32 pin {pin!r} must look like 'A2'")
    return ord(pin[0].upper()) - ord("A"), int(pin[1:])


def uart_defines(board: BoardConfig) -> list[tuple[str, str]]:
    u = board.uart
    if u.driver == "nrf":
        if u.baud != 115200:
            raise BoardError(f"{board.name}: the nrf UART driver supports 115200 baud only (got {u.baud})")
        return [("TP_UART_TX_PIN", f"{u.tx_pin}u"), ("TP_UART_RX_PIN", f"{u.rx_pin}u")]
    if u.driver.startswith("stm32"):
        if u.family not in ("l4", "h7", "f4"):
            raise BoardError(f"{board.name}: STM32 family {u.family!r} is not supported (l4, h7, f4)")
        tx_port, tx = _port_pin(u.tx_pin)
        rx_port, rx = _port_pin(u.rx_pin)
        return [
            (f"TP_STM32_{u.family.upper()}", "1"),
            ("TP_UART_LPUART", "1" if u.driver == "stm32-lpuart" else "0"),
            ("TP_UART_V1", "1" if u.driver == "stm32-usart-v1" else "0"),
            ("TP_UART_TX_PORT", f"{tx_port}u"), ("TP_UART_TX_PIN", f"{tx}u"),
            ("TP_UART_RX_PORT", f"{rx_port}u"), ("TP_UART_RX_PIN", f"{rx}u"),
            ("TP_UART_AF", f"{u.af}u"),
        ]
    if u.driver == "pl011":
        return [("TP_UART_TX_PIN", f"{u.tx_pin}u"), ("TP_UART_RX_PIN", f"{u.rx_pin}u")]
    return []


def _kernel_sources(root: Path, manifest: dict, board: BoardConfig, kernels: str) -> tuple[list[str], list[str]]:
    """The manifest's sources, with each reference kernel replaced by the board's preferred
    same-named variant (firmware/kernels/<variant>/) where one exists, and the include dirs
    the chosen variants need. The choice is made here and written into the Makefile, never
    silently at compile time. ``kernels="reference"`` keeps the portable ones."""
    if kernels not in ("auto", "reference"):
        raise BoardError(f"kernels must be 'auto' or 'reference' (got {kernels!r})")
    variants = board.kernel_variants[:-1] if kernels == "auto" else []
    chosen, used = [], []
    for src in manifest["sources"]:
        parts = Path(src).parts
        if len(parts) == 3 and parts[0] == "kernels" and parts[1] in ("ref", "reference"):
            for variant in variants:
                candidate = FIRMWARE / "kernels" / variant / parts[2]
                if candidate.exists():
                    dest = root / "kernels" / variant / parts[2]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(candidate, dest)
                    for header in (FIRMWARE / "kernels" / variant).glob("*.h"):
                        shutil.copyfile(header, dest.parent / header.name)
                    src = f"kernels/{variant}/{parts[2]}"
                    used.append(f"kernels/{variant}")
                    break
        if not (root / src).exists():
            raise ModelError(f"{root}: source {src} listed in manifest.json is missing")
        chosen.append(src)
    return chosen, list(dict.fromkeys(used))


def write_project(root: str | Path, board: BoardConfig, opt: str = "-O2", kernels: str = "auto") -> Project:
    """Add board/ and Makefile to the generated model directory ``root``."""
    root = Path(root)
    manifest = read_manifest(root)
    board_dir = root / "board"
    if board_dir.exists():
        shutil.rmtree(board_dir)  # ours: regenerated for the board asked for now
    board_dir.mkdir()

    platform = ["tp_port.h", "startup_cortexm.c", UART_SOURCES[board.uart.driver],
                "timer_dwt.c" if board.timer == "dwt" else "timer_systick.c",
                "exit_semihost.c" if board.emulated else "exit_spin.c"]
    boot2, post_link, host_tools = None, [], []
    if board.name in BOOT2:
        boot2_src, boot2 = BOOT2[board.name]
        platform.append(boot2_src)
        host_tools.append("boot2_crc.c")
        post_link = BOOT2_POST_LINK
    for name in platform + host_tools:
        shutil.copyfile(FIRMWARE / "platform" / name, board_dir / name)
    for name in RUNTIME_FILES:
        shutil.copyfile(FIRMWARE / "runtime" / name, board_dir / name)

    env = _env()
    ctx = dict(version=__version__, board=board, opt=opt, boot2=boot2)
    (board_dir / "board_config.h").write_text(
        env.get_template("board_config.h.j2").render(uart_defines=uart_defines(board), **ctx))
    (board_dir / "link.ld").write_text(env.get_template("link.ld.j2").render(**ctx))

    sources, variant_dirs = _kernel_sources(root, manifest, board, kernels)
    sources += [f"board/{n}" for n in platform + RUNTIME_FILES if n.endswith(".c")]
    include_dirs = list(dict.fromkeys([".", *variant_dirs, *manifest["include_dirs"], "board"]))
    (root / "Makefile").write_text(env.get_template("Makefile.j2").render(
        cpu_flags=board.cpu_flags, include_dirs=include_dirs, sources=sources, post_link=post_link, **ctx))
    (root / "board" / "board.json").write_text(json.dumps({"board": board.name, "opt": opt, "kernels": kernels, "sources": sources}) + "\n")
    return Project(root, board, manifest)
