"""Boards: declarative TOML descriptions, firmware project generation, and one Board class
per connection kind (QEMU, serial)."""
from .base import Board, make_board  # noqa: F401
from .config import BoardConfig, all_boards, board_names, load  # noqa: F401
