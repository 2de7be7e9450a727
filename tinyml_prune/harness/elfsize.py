"""Flash and RAM of a firmware image, read from the ELF's section headers (pyelftools)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from ..errors import BoardError


@dataclass(frozen=True)
class ElfSizes:
    text: int  # code (+ vector table, boot2, unwind index)
    rodata: int  # constants: the model's weights live here
    data: int  # initialised RAM, stored in flash too
    bss: int  # zeroed RAM: the activation arena and runtime buffers
    stack_reserved: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.rodata + self.data

    @property
    def static_ram_bytes(self) -> int:
        return self.data + self.bss

    def as_dict(self) -> dict:
        return {**asdict(self), "flash_bytes": self.flash_bytes, "static_ram_bytes": self.static_ram_bytes}


def elf_sizes(path: str | Path) -> ElfSizes:
    p = Path(path)
    sizes = dict(text=0, rodata=0, data=0, bss=0, stack_reserved=0)
    try:
        with open(p, "rb") as f:
            for sec in ELFFile(f).iter_sections():
                if not sec["sh_flags"] & SH_FLAGS.SHF_ALLOC or sec["sh_size"] == 0:
                    continue
                name, size = sec.name, sec["sh_size"]
                if name == ".stack":
                    sizes["stack_reserved"] += size
                elif sec["sh_type"] == "SHT_NOBITS":
                    sizes["bss"] += size
                elif sec["sh_flags"] & SH_FLAGS.SHF_WRITE:
                    sizes["data"] += size
                elif name.startswith(".rodata"):
                    sizes["rodata"] += size
                else:
                    sizes["text"] += size
    except FileNotFoundError:
        raise BoardError(f"{p} does not exist; run `tinyml build` first") from None
    except Exception as e:  # noqa: BLE001 - pyelftools raises several types
        raise BoardError(f"{p}: not a readable ELF file ({e})") from None
    return ElfSizes(**sizes)
