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
@force_option
def codegen(model_path, out_dir, weight_format, rounding, force):
    from pathlib import Path

    from tinyml_prune.codegen import CodegenOptions, generate

    result = generate(Path(model_path).read_bytes(), out_dir, CodegenOptions(weight_format, rounding),
                      force=force, source=model_path)
    print_summary(result.manifest, out_dir)


def print_summary(m: dict, out_dir) -> None:
    click.echo(f"{'layer':>5}  {'op':<18} {'output shape':<18} {'MACs':>10} {'weights B':>10}")
    for row in m["layers"]:
        shape = "x".join(str(d) for d in row["shape"])
        click.echo(f"{row['layer']:>5}  {row['op']:<18} {shape:<18} {row['macs']:>10,} {row['weight_bytes']:>10,}")
    click.echo(f"C for {len(m['layers'])} layers -> {out_dir}: weights {m['weight_bytes']:,} B "
               f"(+ {m['param_bytes']:,} B requantization data), arena {m['arena_bytes']:,} B, "
               f"{m['macs']:,} MACs, kernels: {', '.join(k.removesuffix('.c') for k in m['kernels'])}")
    if "slim" in m:
        from tinyml_prune.codegen.slim import summary_lines

        click.echo("\n".join(summary_lines(m["slim"])))
