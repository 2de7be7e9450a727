import click

from .board_options import board_option, port_option


@click.command(help="Put DIR's firmware on the board and check that it answers: QEMU boards boot the ELF "
                    "in an emulator owned by this command; real boards run the flasher (pyocd/openocd).")
@click.argument("project_dir", type=click.Path(exists=True, file_okay=False))
@board_option
@port_option
def flash(project_dir, board_name, port):
    from pathlib import Path

    from ..boards import load, make_board
    from ..harness.protocol import Client

    config = load(board_name)
    board = make_board(config) if config.emulated else make_board(config, port=port)
    elf = Path(project_dir) / "build" / "firmware.elf"
    with board:
        board.flash(elf)
        board.open()
        client = Client(board, timeout=10)
        info = client.info()
        if config.emulated:
            client.exit()
    click.echo(f"{config.name}: firmware answers: board {info.get('board')}, core {info.get('core')}, "
               f"model {info.get('sha256', '?')[:12]}…, input {info.get('in')} B, output {info.get('out')} B, "
               f"arena {info.get('arena')} B")
