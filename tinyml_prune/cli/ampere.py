import json

import click

from .options import force_option


@click.command(help="Run MODEL's int8 CONV_2D/FULLY_CONNECTED layers through the emulated NVIDIA Ampere "
                    "2:4 sparse path (mma.sp operand format), check every layer bit-exact against TFLite's "
                    "reference interpreter, and model dense vs 2:4 latency on an A100. Prints the table; "
                    "with -o writes ampere.json, ampere.md and ampere_speedup.png.")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Directory for the report files.")
@click.option("--samples", type=click.IntRange(1), default=4, show_default=True,
              help="Random int8 inputs for the layer-by-layer bit-exactness check.")
@click.option("--part", default="a100-sxm4-40gb", show_default=True, help="GPU part of the cost model.")
@click.option("--rounding", type=click.Choice(["tflite", "tflm"]), default="tflite", show_default=True,
              help="Requantization rounding to match: TF 2.21 BUILTIN_REF, or TFLM (double everywhere).")
@click.option("--board-counts", type=click.Path(exists=True, dir_okay=False),
              help='JSON {"<op index>": {"dense": n, "sparse": n}, "model": {...}} of board-measured '
                   "instruction counts (issue #6) for the side-by-side column.")
@click.option("--prune", "prune_first", is_flag=True,
              help="First prune every CONV_2D/FULLY_CONNECTED weight 2:4 by magnitude in a copy of the "
                   "flatbuffer (no retraining; accuracy drops). With -o the copy is saved as model_2to4.tflite.")
@force_option
def ampere(model_path, output_dir, samples, part, rounding, board_counts, prune_first, force):
    from pathlib import Path

    from ..ampere.graph import load_bytes
    from ..ampere.prune import prune_model_2to4
    from ..ampere.report import ampere_markdown, ampere_section, speedup_chart
    from ..artifacts import check_writable, write_bytes, write_json, write_text
    from ..errors import DataError

    names = ("ampere.json", "ampere.md", "ampere_speedup.png") + (("model_2to4.tflite",) if prune_first else ())
    if output_dir:
        for n in names:
            check_writable(Path(output_dir) / n, force)
    board = None
    if board_counts:
        try:
            board = json.loads(Path(board_counts).read_text())
        except (OSError, ValueError) as e:
            raise DataError(f"{board_counts}: not a JSON file of board instruction counts ({e})") from None
        if not isinstance(board, dict):
            raise DataError(f"{board_counts}: expected a JSON object keyed by op index")
    data = prune_model_2to4(model_path) if prune_first else load_bytes(model_path)
    section = ampere_section(data, samples=samples, part=part, board=board, rounding=rounding)
    md = ampere_markdown(section)
    click.echo(md)
    if output_dir:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "ampere.json", section, force=force)
        write_text(out / "ampere.md", md, force=force)
        speedup_chart(section, out / "ampere_speedup.png")
        if prune_first:
            write_bytes(out / "model_2to4.tflite", data, force=force)
        click.echo(f"wrote {', '.join(str(out / n) for n in names)}")
    if not section["model"]["bit_exact"]:
        raise click.ClickException("a layer is not bit-exact with TFLite (see the table)")
