"""Build tests: every real board builds the digits CNN; the generated directory builds with
plain `make`; boards that cannot hold a model say so with numbers; board TOMLs are checked."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess

import pytest

from tinyml_prune.boards import all_boards, load, make_board
from tinyml_prune.errors import BoardError, FitError
from tinyml_prune.harness.elfsize import elf_sizes

from .conftest import needs_toolchain
from .models import generated, project_copy

REAL = [b.name for b in all_boards() if not b.emulated]


@pytest.fixture(scope="module")
def digits_gen(tmp_path_factory, digits_cnn_tflite):
    return generated(tmp_path_factory, digits_cnn_tflite, "digits_cnn")


def test_every_board_toml_loads():
    names = {b.name for b in all_boards()}
    assert {"qemu-m0", "qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55", "nucleo-l4r5zi",
            "nucleo-h7a3zi-q", "nucleo-f446re", "nano33ble", "rpi-pico"} <= names


def test_bad_board_toml_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(load("qemu-m4").path.read_text().replace('core = "cortex-m4"', 'core = "cortex-m99"'))
    with pytest.raises(BoardError, match="unsupported core 'cortex-m99'"):
        load(str(bad))
    bad.write_text(load("qemu-m4").path.read_text() + "\n[extra]\nfoo = 1\n")
    with pytest.raises(BoardError, match="unknown key"):
        load(str(bad))
    with pytest.raises(BoardError, match="unknown board 'nope'"):
        load("nope")


def _vectors(elf, board):
    """Initial SP and reset vector from the vector table at the start of the image."""
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".text")
        return struct.unpack("<2I", sec.data()[:8]), sec["sh_addr"]


@pytest.mark.parametrize("board_name", REAL)
def test_real_board_builds(tmp_path, digits_gen, board_name):
    needs_toolchain()
    board = make_board(load(board_name))
    project = board.build(project_copy(digits_gen, tmp_path / "p"))
    s = elf_sizes(project.elf)
    c = board.config
    assert s.rodata >= project.manifest["weight_bytes"]  # the weights are in flash
    assert s.bss >= project.manifest["arena_bytes"]
    (sp, reset), text_addr = _vectors(project.elf, board)
    assert c.ram.origin < sp <= c.ram.origin + c.ram.size
    assert text_addr <= reset & ~1 < c.flash.origin + c.flash.size and reset & 1  # Thumb


def test_rp2040_boot2_checksum(tmp_path, digits_gen):
    """The boot ROM's CRC-32 (MPEG-2 variant) over the first 252 bytes sits in bytes 252..255."""
    needs_toolchain()
    from elftools.elf.elffile import ELFFile

    project = make_board(load("rpi-pico")).build(project_copy(digits_gen, tmp_path / "p"))
    with open(project.elf, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".boot2")
        assert sec["sh_addr"] == 0x10000000
        blob = sec.data()
    assert len(blob) == 256
    crc = 0xFFFFFFFF
    for byte in blob[:252]:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    assert struct.unpack("<I", blob[252:])[0] == crc


def test_generated_directory_builds_with_plain_make(tmp_path, digits_gen):
    """No Python, no tinyml on PATH: make + arm-none-eabi-gcc only, and OPT= rebuilds."""
    needs_toolchain()
    root = project_copy(digits_gen, tmp_path / "p")
    make_board(load("qemu-m4")).build(root)
    elf = root / "build" / "firmware.elf"
    first = elf_sizes(elf)
    shutil.rmtree(root / "build")
    env = {"PATH": os.pathsep.join(os.path.dirname(shutil.which(t)) for t in ("make", "arm-none-eabi-gcc", "cc"))}
    subprocess.run(["make", "-C", str(root)], check=True, capture_output=True, env=env)
    assert elf_sizes(elf) == first
    subprocess.run(["make", "-C", str(root), "OPT=-Os"], check=True, capture_output=True, env=env)
    assert elf_sizes(elf).text != first.text


def test_model_too_big_for_the_board_is_refused_with_numbers(tmp_path_factory, tmp_path):
    from conftest import fixture_path

    from tinyml_prune.codegen import generate
    from tinyml_prune.codegen.generate import CodegenOptions

    needs_toolchain()
    # flash: ad01's 270 KB of dense weights on the micro:bit's 256 KB
    ad01 = generated(tmp_path_factory, fixture_path("ad01_int8.tflite"), "ad01")
    with pytest.raises(FitError, match=r"qemu-m0: the weights need \d+ bytes of flash, the board has 262144"):
        make_board(load("qemu-m0")).build(project_copy(ad01, tmp_path / "a"))
    # RAM: KWS without in-place layers needs two 8,000-byte activations plus the stack
    kws = tmp_path / "k"
    generate(fixture_path("kws_ref_model.tflite").read_bytes(), kws, CodegenOptions(in_place=False))
    with pytest.raises(FitError, match=r"qemu-m0: .*\d+ bytes of RAM, the board has 16384"):
        make_board(load("qemu-m0")).build(kws)
