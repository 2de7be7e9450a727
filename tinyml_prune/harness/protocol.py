"""Host side of the firmware's framed serial protocol (mirror of firmware/runtime/tp_protocol.h).

Frame: magic b"TP", command u8, seq u8, length u16 LE, payload, CRC-32 (zlib) u32 LE over
command..payload. Replies set bit 7 of the command; an error reply (0xFF) carries one
error-code byte.
"""
from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

from ..errors import BoardError, BoardTimeout

MAGIC = b"TP"
HEADER = struct.Struct("<2sBBH")
REPLY = 0x80
CMD_INFO, CMD_RUN, CMD_MEMORY, CMD_EXIT, CMD_ECHO, CMD_ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x7F
CMD_LAYERS = 0x06  # per-layer timestamps of the last run (-DTP_PROFILE_LAYERS firmware only)
ERRORS = {1: "bad CRC", 2: "unknown command", 3: "payload too long", 4: "frame timed out",
          5: "wrong payload length"}
PROTOCOL_VERSION = 1


class ProtocolError(BoardError):
    """The board answered, but with an error reply or a malformed frame."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def encode(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ProtocolError(f"payload of {len(payload)} bytes does not fit a frame (max 65535)")
    body = HEADER.pack(MAGIC, cmd, seq & 0xFF, len(payload))[2:] + payload
    return MAGIC + body + struct.pack("<I", zlib.crc32(body))


@dataclass(frozen=True)
class RunResult:
    status: int
    ticks: int
    output: bytes


@dataclass(frozen=True)
class MemoryStats:
    stack_peak_bytes: int
    stack_size_bytes: int
    arena_bytes: int
    static_ram_bytes: int
    protocol_bytes: int | None = None  # the firmware's protocol buffers, part of static_ram_bytes


class Client:
    """Request/reply over a Board's byte stream. ``timeout`` bounds every reply."""

    def __init__(self, board, timeout: float = 10.0):
        self.board = board
        self.timeout = timeout
        self.seq = 0

    def send_raw(self, data: bytes) -> None:
        self.board.write(data)

    def read_frame(self, timeout: float | None = None) -> tuple[int, int, bytes]:
        """The next valid frame (cmd, seq, payload); bytes before a magic are skipped."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoardTimeout(f"{self.board.config.name}: no reply within {timeout:.1f} s")
            return remaining

        window = b""
        while window != MAGIC:
            window = (window + self.board.read(1, left()))[-2:]
        head = self.board.read(4, left())
        _, cmd, seq, length = HEADER.unpack(MAGIC + head)
        payload = self.board.read(length, left()) if length else b""
        (crc,) = struct.unpack("<I", self.board.read(4, left()))
        if crc != zlib.crc32(head + payload):
            raise ProtocolError(f"{self.board.config.name}: reply with a bad CRC (command 0x{cmd:02x})")
        return cmd, seq, payload

    def request(self, cmd: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        self.seq = (self.seq + 1) & 0xFF
        self.send_raw(encode(cmd, self.seq, payload))
        rcmd, rseq, rpayload = self.read_frame(timeout)
        if rcmd == CMD_ERROR | REPLY:
            code = rpayload[0] if rpayload else 0
            raise ProtocolError(f"{self.board.config.name}: the firmware rejected command 0x{cmd:02x}: "
                                f"{ERRORS.get(code, f'error {code}')}", code)
        if rcmd != cmd | REPLY or rseq != self.seq:
            raise ProtocolError(f"{self.board.config.name}: unexpected reply 0x{rcmd:02x} seq {rseq} "
                                f"to command 0x{cmd:02x} seq {self.seq}")
        return rpayload

    # -- commands ----------------------------------------------------------------------
    def info(self) -> dict[str, str]:
        text = self.request(CMD_INFO).decode("ascii", errors="replace")
        info = dict(kv.split("=", 1) for kv in text.split(";") if "=" in kv)
        if info.get("proto") != str(PROTOCOL_VERSION):
            raise ProtocolError(f"{self.board.config.name}: firmware speaks protocol {info.get('proto')!r}, "
                                f"this harness {PROTOCOL_VERSION}")
        return info

    def run(self, data: bytes, timeout: float | None = None) -> RunResult:
        reply = self.request(CMD_RUN, data, timeout)
        if len(reply) < 8:
            raise ProtocolError(f"{self.board.config.name}: run reply of {len(reply)} bytes is too short")
        status, ticks = struct.unpack("<iI", reply[:8])
        return RunResult(status, ticks, reply[8:])

    def memory(self) -> MemoryStats:
        reply = self.request(CMD_MEMORY)
        if len(reply) not in (16, 20):
            raise ProtocolError(f"{self.board.config.name}: memory reply of {len(reply)} bytes (expected 16 or 20)")
        return MemoryStats(*struct.unpack(f"<{len(reply) // 4}I", reply))

    def layers(self) -> tuple[int, list[int]]:
        """(clock bits, raw timestamps) of the last run's layer marks: two calibration
        marks, the start of the run, then one per layer."""
        reply = self.request(CMD_LAYERS)
        if len(reply) < 8:
            raise ProtocolError(f"{self.board.config.name}: layers reply of {len(reply)} bytes is too short")
        slots, bits = struct.unpack("<2I", reply[:8])
        if len(reply) != 8 + 4 * slots or not 1 <= bits <= 32:
            raise ProtocolError(f"{self.board.config.name}: malformed layers reply ({len(reply)} bytes, "
                                f"{slots} slots, {bits}-bit clock)")
        return bits, list(struct.unpack(f"<{slots}I", reply[8:]))

    def echo(self, data: bytes) -> bytes:
        return self.request(CMD_ECHO, data)

    def exit(self) -> None:
        self.request(CMD_EXIT)
