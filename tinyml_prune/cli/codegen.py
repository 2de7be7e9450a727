import click

from .options import force_option


def _formats():
    from tinyml_prune.codegen import formats

    return formats.names()


@click.command(help="Generate C from an int8 MODEL.tflite: weights as const arrays, requantization "
                    "constants, a statically planned activation arena and one entry point "
                    "`tp_model_run(input, output)`, plus the reference kernels it calls.")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for model.c/.h, weights.c/.h, kernels/ and manifest.json.")
@click.option("--format", "weight_format", default="dense", show_default=True,
              help="Weight format of the conv and fully connected layers.")
@click.option("--rounding", type=click.Choice(["tflite", "tflm"]), default="tflite", show_default=True,
              help="tflite: bit-exact with TensorFlow Lite's reference kernels; tflm: double rounding "
                   "everywhere, as TFLM and CMSIS-NN requantize.")
@click.option("--board", "board_name", default=None,
              help="Board the code is for (see `tinyml boards`, or a board TOML): --format auto uses its "
                   "measured kernel costs. Without it auto picks a sparse format only where it is cheaper "
                   "than dense on every calibrated board.")
@force_option
def codegen(model_path, out_dir, weight_format, rounding, board_name, force):
    from pathlib import Path

    from tinyml_prune.artifacts import check_output_dir, staged_dir
    from tinyml_prune.codegen import CodegenOptions, generate
    from tinyml_prune.errors import OutputError

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a directory")
    check_output_dir(out)  # before any work: a read-only or full place fails here
    target = None
    if board_name is not None:
        from tinyml_prune.boards import load
        from tinyml_prune.codegen.formats.costmodel import Target

        target = Target.from_board(load(board_name))
    blob, options = Path(model_path).read_bytes(), CodegenOptions(weight_format, rounding, target=target)
    if out.exists():  # written file by file, manifest.json last
        result = generate(blob, out, options, force=force, source=model_path)
    else:  # a new directory appears complete or not at all
        with staged_dir(out) as stage:
            result = generate(blob, stage, options, force=force, source=model_path)
    print_summary(result.manifest, out_dir)


def print_summary(m: dict, out_dir) -> None:
    click.echo(f"{'layer':>5}  {'op':<18} {'output shape':<18} {'MACs':>10} {'weights B':>10}")
    for row in m["layers"]:
        shape = "x".join(str(d) for d in row["shape"])
        click.echo(f"{row['layer']:>5}  {row['op']:<18} {shape:<18} {row['macs']:>10,} {row['weight_bytes']:>10,}")
    click.echo(f"C for {len(m['layers'])} layers -> {out_dir}: weights {m['weight_bytes']:,} B "
               f"(+ {m['param_bytes']:,} B requantization data), arena {m['arena_bytes']:,} B, "
               f"{m['macs']:,} MACs, kernels: {', '.join(k.removesuffix('.c') for k in m['kernels'])}")
    if m.get("format") == "auto":
        click.echo(auto_line(m))
    variants = variant_summary(m["layers"])
    if variants:
        click.echo(variants)
    if "slim" in m:
        from tinyml_prune.codegen.slim import summary_lines

        click.echo("\n".join(summary_lines(m["slim"])))


def auto_line(m: dict) -> str:
    """Which calibration `auto` chose with, and the layers per chosen format."""
    from collections import Counter

    t = m.get("target")
    counts = Counter(r["format"] for r in m["layers"] if "predicted" in r)
    chosen = ", ".join(f"{n} {f}" for f, n in sorted(counts.items())) or "no FC/CONV layers"
    if t is None:
        how = "no --board: sparse only where cheaper than dense on every calibrated board"
    elif t.get("cost_table") is None:
        how = f"board {t['board']} ({t['core']}) has no calibration: sparse only where cheaper on every calibrated board"
    else:
        how = f"costs of {t['cost_table']}" + (f" for {t['board']}" if t["board"] != t["cost_table"] else "")
    return f"auto ({how}): {chosen}"


def variant_summary(layers: list[dict]) -> str:
    """Layers per kernel variant in one line (each layer's variant and reason: manifest.json);
    the reasons of layers that do not take the plain optimized loop, by count."""
    from collections import Counter

    counts = Counter(r["kernel_variant"] for r in layers if r.get("kernel_variant"))
    if not counts:
        return ""
    line = "kernel variants: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    slow = Counter(r.get("variant_reason", "") for r in layers if r.get("kernel_variant") == "generic")
    if slow:
        line += "; generic because " + "; ".join(f"{why} ({n})" for why, n in slow.most_common())
    return line
