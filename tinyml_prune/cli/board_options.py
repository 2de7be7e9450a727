"""Options shared by the board commands."""
import click

board_option = click.option("--board", "board_name", default="qemu-m4", show_default=True,
                            help="Board name (see `tinyml boards`) or a path to a board TOML.")
opt_option = click.option("--opt", default="-O2", show_default=True,
                          type=click.Choice(["-O0", "-O1", "-O2", "-O3", "-Os", "-Ofast"]),
                          help="GCC optimisation level.")
port_option = click.option("--port", default=None, help="Serial port of a real board (default: found by USB id).")
