"""Protocol tests against the real firmware on qemu-m4 (fake model): replies, and fault
injection — garbage, truncated frames, bad CRC, oversize length, a silent board, a QEMU
that dies. After each fault the firmware must answer the next good request."""
from __future__ import annotations

import os
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyml_prune.errors import BoardClosed, BoardTimeout
from tinyml_prune.harness import protocol as P

from .conftest import build_fake
from .fake import IN, fake_run

pytestmark = [pytest.mark.qemu, pytest.mark.xdist_group("qemu-fake")]


def test_encode_matches_layout():
    frame = P.encode(P.CMD_ECHO, 7, b"ab")
    assert frame[:2] == b"TP"
    assert frame[2:6] == bytes([0x05, 7, 2, 0])
    assert frame[6:8] == b"ab"
    assert struct.unpack("<I", frame[8:])[0] == zlib.crc32(bytes([0x05, 7, 2, 0]) + b"ab")


def assert_alive(client):
    assert client.echo(b"still here") == b"still here"


def error_reply(client, timeout=20):
    cmd, seq, payload = client.read_frame(timeout)
    assert cmd == P.CMD_ERROR | P.REPLY
    return seq, payload[0]


def test_info_memory_and_run(fake_m4):
    _, client = fake_m4
    info = client.info()
    assert (info["board"], info["core"], info["in"], info["out"]) == ("qemu-m4", "cortex-m4", "16", "8")
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.integers(-128, 128, IN, dtype=np.int8)
        r = client.run(x.tobytes())
        assert r.status == 0
        assert r.output == fake_run(x).tobytes()
        assert r.ticks > 0
    mem = client.memory()
    assert mem.arena_bytes == 32
    assert 0 < mem.stack_peak_bytes < mem.stack_size_bytes == 16384


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=256))
def test_echo_roundtrips_any_payload(fake_m4, payload):
    _, client = fake_m4
    assert client.echo(payload) == payload


def test_garbage_is_skipped(fake_m4):
    board, client = fake_m4
    noise = bytes(b for b in os.urandom(300) if b != P.MAGIC[0])
    board.write(noise)
    assert_alive(client)


def test_magic_followed_by_garbage_resyncs(fake_m4):
    board, client = fake_m4
    # A header whose length is absurd: rejected at once, without reading the payload.
    board.write(b"TP" + bytes([P.CMD_ECHO, 9]) + struct.pack("<H", 0xFFFF))
    assert error_reply(client) == (9, 3)
    assert_alive(client)


def test_oversize_length(fake_m4):
    board, client = fake_m4
    max_payload = int(client.info()["max_payload"])
    client.seq = 40
    with pytest.raises(P.ProtocolError, match="too long") as e:
        client.echo(bytes(max_payload + 1))
    assert e.value.code == 3
    time.sleep(0.5)  # the payload the firmware did not read is hunted through as noise
    board.serial.reset_input_buffer()
    assert_alive(client)


def test_bad_crc(fake_m4):
    board, client = fake_m4
    frame = bytearray(P.encode(P.CMD_ECHO, 11, b"payload"))
    frame[-1] ^= 0x40
    board.write(bytes(frame))
    assert error_reply(client) == (11, 1)
    assert_alive(client)


def test_truncated_frame_times_out_on_the_board(fake_m4):
    board, client = fake_m4
    frame = P.encode(P.CMD_ECHO, 12, bytes(range(40)))
    board.write(frame[:20])  # header says 40 bytes, only 14 arrive
    assert error_reply(client, timeout=30) == (12, 4)
    assert_alive(client)


def test_unknown_command_and_wrong_input_length(fake_m4):
    _, client = fake_m4
    with pytest.raises(P.ProtocolError, match="unknown command"):
        client.request(0x33)
    with pytest.raises(P.ProtocolError, match="wrong payload length"):
        client.run(bytes(IN - 1))
    assert_alive(client)


def test_silent_board_times_out(tmp_path):
    """QEMU started with its CPU stopped (-S): the port opens but nothing ever answers."""
    board, project = build_fake(tmp_path, "qemu-m4")
    board.command_extra = ["-S"]
    board.flash(project.elf)
    try:
        board.open()
        t0 = time.monotonic()
        with pytest.raises(BoardTimeout, match="within 1.5 s"):
            P.Client(board, timeout=1.5).info()
        assert time.monotonic() - t0 < 5
    finally:
        pid = board.pid
        board.close()
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)


def test_qemu_that_dies_is_reported_as_closed(tmp_path):
    board, project = build_fake(tmp_path, "qemu-m4")
    board.flash(project.elf)
    try:
        board.open()
        client = P.Client(board, timeout=10)
        assert_alive(client)
        board.proc.kill()
        board.proc.wait()
        with pytest.raises(BoardClosed, match="QEMU exited"):
            for _ in range(3):  # the first write may still land in the socket buffer
                client.info()
    finally:
        board.close()


def test_exit_command_leaves_qemu(tmp_path):
    board, project = build_fake(tmp_path, "qemu-m4")
    board.flash(project.elf)
    try:
        board.open()
        P.Client(board, timeout=10).exit()
        assert board.wait_exit(10) == 0
    finally:
        board.close()
