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
    note = target_note(project_dir, board.config)
    if note:
        click.echo(note, err=True)
    project = board.build(project_dir, opt, kernels)
    s = elf_sizes(project.elf)
    c = board.config
    click.echo(f"{project.elf}: flash {s.flash_bytes:,} B of {c.flash.size:,} (weights/rodata {s.rodata:,}), "
               f"static RAM {s.static_ram_bytes:,} B + stack {s.stack_reserved:,} of {c.ram.size:,}")


def target_note(project_dir, config) -> str | None:
    """A warning when `--format auto` chose its formats for another board (or none) than the one
    being built for: its choices are then only guaranteed against dense on the board it was given."""
    import json
    from pathlib import Path

    path = Path(project_dir) / "manifest.json"
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # the build reports a missing or broken manifest itself
    if m.get("format") != "auto" or "target" not in m:
        return None
    t = m["target"]
    if t is None:
        return None  # target-less auto is conservative on every calibrated board
    from tinyml_prune.codegen.formats.costmodel import Target

    if Target.from_board(config).cost_table == t.get("cost_table"):
        return None
    return (f"note: {path} was generated with --format auto for {t['board']} (costs "
            f"{t.get('cost_table') or 'of every board'}); for {config.name} run `tinyml codegen --format auto "
            f"--board {config.name}` so its choices are never slower than dense there")
