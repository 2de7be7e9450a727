import click

from .board_options import board_option, opt_option


@click.command(help="Cross-compile a generated model directory DIR (from `tinyml codegen`) for a board. "
                    "Adds board/ and a plain Makefile to DIR, so DIR also builds with `make` alone.")
@click.argument("project_dir", type=click.Path(exists=True, file_okay=False))
@board_option
@opt_option
@click.option("--kernels", type=click.Choice(["auto", "reference"]), default="auto", show_default=True,
              help="auto: the core's optimized kernel variants where they exist (dsp/, mve/); reference: portable C.")
def build(project_dir, board_name, opt, kernels):
    from ..boards import load, make_board
    from ..harness.elfsize import elf_sizes

    board = make_board(load(board_name))
    project = board.build(project_dir, opt, kernels)
    s = elf_sizes(project.elf)
    c = board.config
    click.echo(f"{project.elf}: flash {s.flash_bytes:,} B of {c.flash.size:,} (weights/rodata {s.rodata:,}), "
               f"static RAM {s.static_ram_bytes:,} B + stack {s.stack_reserved:,} of {c.ram.size:,}")
