"""Fixtures for the board tests: a QEMU board running the fake-model firmware."""
from __future__ import annotations

import shutil

import pytest

from .fake import FAKE_MODEL


def needs_toolchain():
    missing = [t for t in ("arm-none-eabi-gcc", "qemu-system-arm", "make") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make setup installs them)")


def build_fake(tmp_path, board_name: str, opt: str = "-O2"):
    from tinyml_prune.boards import load, make_board

    needs_toolchain()
    root = tmp_path / f"fake-{board_name}"
    shutil.copytree(FAKE_MODEL, root)
    board = make_board(load(board_name))
    return board, board.build(root, opt)


@pytest.fixture(scope="module")
def fake_m4(tmp_path_factory):
    """A running qemu-m4 with the fake model and an open protocol client."""
    from tinyml_prune.harness.protocol import Client

    board, project = build_fake(tmp_path_factory.mktemp("fake"), "qemu-m4")
    board.flash(project.elf)
    board.open()
    try:
        yield board, Client(board, timeout=20)
    finally:
        board.close()
