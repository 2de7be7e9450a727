import json

import click

from ..ampere.cost import DEFAULT_PART, PARTS
from .board_options import port_option
from .options import force_option


@click.command(help="Run MODEL's int8 CONV_2D/FULLY_CONNECTED layers through emulated NVIDIA tensor-core kernels "
                    "(dense mma.sync and 2:4 sparse mma.sp, int8 operands, int32 accumulators), check every layer "
                    "bit-exact against TFLite's reference interpreter, and model dense vs 2:4 latency on a GPU part "
                    "(launch floor included) at a batch size. --gpu also runs the same operands on a CUDA GPU. "
                    "Prints the table; with -o writes ampere.json, ampere.md and ampere_speedup.png.")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Directory for the report files.")
@click.option("--samples", type=click.IntRange(1), default=4, show_default=True,
              help="Random int8 inputs for the layer-by-layer bit-exactness check.")
@click.option("--part", type=click.Choice(list(PARTS)), default=DEFAULT_PART, show_default=True,
              help="GPU part of the cost model (public datasheet figures).")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True,
              help="Samples per kernel launch: GEMM N = output pixels x batch (cost model and --gpu).")
@click.option("--gpu", "use_gpu", is_flag=True,
              help="Also run every GEMM layer's lane operands through mma.sync / mma.sp on a CUDA GPU (needs CuPy, "
                   "the [gpu] extra): compare every accumulator with the emulation and time both per layer.")
@click.option("--rounding", type=click.Choice(["tflite", "tflm"]), default="tflite", show_default=True,
              help="Requantization rounding to match: TF 2.21 BUILTIN_REF, or TFLM (double everywhere).")
@click.option("--board-counts", type=click.Path(exists=True, dir_okay=False),
              help='JSON {"<op index>": {"dense": n, "sparse": n}, "model": {...}} of board-measured '
                   "instruction counts for the side-by-side column.")
@click.option("--board", "board_name", default=None,
              help="Measure the side-by-side column on this board (e.g. qemu-m4): the model generated dense and "
                   "with 2:4 (`nm`) on its 2:4 layers, each layer profiled (build-layers, exact on QEMU).")
@port_option
@click.option("--runs", type=click.IntRange(1), default=3, show_default=True,
              help="With --board: seeded random inputs per variant (the median per layer is used).")
@click.option("--prune", "prune_first", is_flag=True,
              help="First prune every CONV_2D/FULLY_CONNECTED weight 2:4 by magnitude in a copy of the "
                   "flatbuffer (no retraining; accuracy drops). With -o the copy is saved as model_2to4.tflite.")
@force_option
def ampere(model_path, output_dir, samples, part, batch, use_gpu, rounding, board_counts, board_name, port, runs,
           prune_first, force):
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
    if board_counts and board_name:
        raise click.UsageError("give either --board-counts or --board, not both")
    if use_gpu:
        from ..ampere.gpu import Gpu

        Gpu()          # no GPU or no CuPy: one line, exit 2, before any other work
    data = prune_model_2to4(model_path) if prune_first else load_bytes(model_path)
    if board_name:
        board = _measure_on_board(data, board_name, port, runs, Path(output_dir) if output_dir else None)
    section = ampere_section(data, samples=samples, part=part, board=board, rounding=rounding, batch=batch,
                             gpu=use_gpu)
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
    if use_gpu and not section["gpu_measured"]["all_equal"]:
        raise click.ClickException("an accumulator on the GPU differs from the emulation (see the table)")


def _measure_on_board(tflite: bytes, board_name: str, port, runs: int, output_dir):
    """Per-layer dense vs 2:4 counts of the model on a board (harness/layers.py)."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from ..boards import load, make_board
    from ..harness.layers import measure_dense_vs_2to4
    from ..quantize.ptq import make_interpreter, run_tflite

    config = load(board_name)
    board = make_board(config, exact=True) if config.emulated else make_board(config, port=port)
    shape = tuple(make_interpreter(tflite).get_input_details()[0]["shape"][1:])
    x = np.random.default_rng(0).integers(-128, 128, (runs, *shape), dtype=np.int8)
    expected = run_tflite(tflite, x, quantized_input=True).reshape(runs, -1)
    with tempfile.TemporaryDirectory(prefix="tinyml-ampere-") as tmp:
        work = output_dir / "board-layers" if output_dir else Path(tmp)
        click.echo(f"measuring dense and 2:4 per layer on {config.name} ({runs} input(s) each) ...", err=True)
        counts = measure_dense_vs_2to4(tflite, board, work, x, expected)
    if counts is None:
        click.echo("no layer of this model is 2:4 (the nm format accepts none): nothing to measure on the board",
                   err=True)
    elif not counts["bit_exact"]:
        raise click.ClickException(f"the board's outputs differ from TFLite on {config.name}")
    return counts
