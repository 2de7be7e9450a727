import click


@click.command(help="Generate C for MODEL.tflite, compile it with the host gcc (-std=c99 -Wall -Wextra "
                    "-Werror, ASan + UBSan), run N inputs and compare every output byte with TFLite's "
                    "reference kernels (BUILTIN_REF). Exits 0 only when all outputs match.")
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--target", type=click.Choice(["host"]), default="host", show_default=True)
@click.option("-n", "n", type=click.IntRange(min=1), default=50, show_default=True, help="Number of random inputs.")
@click.option("--inputs", "inputs_path", type=click.Path(exists=True, dir_okay=False),
              help=".npz with int8 (or float, quantized with the input scale) inputs, key x / x_test.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--oracle", type=click.Choice(["tflite", "tflm"]), default="tflite", show_default=True,
              help="Compare with TFLite's reference kernels, or with TensorFlow Lite Micro's interpreter "
                   "(package tflite-micro).")
@click.option("--rounding", type=click.Choice(["tflite", "tflm"]), default=None,
              help="Requantization rounding of the generated code [default: that of the oracle].")
@click.option("--keep", "keep_dir", type=click.Path(file_okay=False),
              help="Keep the generated C and the host binary in this directory.")
def verify(model_path, target, n, inputs_path, seed, oracle, rounding, keep_dir):
    import warnings
    from pathlib import Path

    from tinyml_prune.codegen import CodegenOptions
    from tinyml_prune.errors import DataError
    from tinyml_prune.verify import VerifyFailed, load_inputs, model_io, random_inputs, verify_host

    warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
    tflite = Path(model_path).read_bytes()
    io = model_io(tflite)
    first = io["inputs"][0]
    shape = tuple(first["shape"]) if len(io["inputs"]) == 1 else (io["input_bytes"],)
    if inputs_path:
        if len(io["inputs"]) > 1:
            raise DataError(f"{model_path} has {len(io['inputs'])} inputs; --inputs takes one array per sample "
                            f"with all inputs packed ({io['input_bytes']} int8 values, in the order of model.h)")
        x = load_inputs(inputs_path, shape, first["scale"], first["zero_point"])[:n]
        what = f"{len(x)} inputs from {inputs_path}"
    else:
        x = random_inputs(shape, n, seed)
        what = f"{n} random inputs (seed {seed})"
    result = verify_host(tflite, x, CodegenOptions(rounding=rounding or oracle), workdir=keep_dir,
                         source=model_path, oracle=oracle, isolate=True)
    for note in result.notes:
        click.echo(f"note: {note}")
    name = "TFLite BUILTIN_REF" if oracle == "tflite" else "TensorFlow Lite Micro"
    click.echo(f"{target}: {result.matched}/{result.n} outputs bit-exact with {name} on {what}")
    if not result.ok:
        raise VerifyFailed(f"{result.n - result.matched} of {result.n} outputs differ "
                           f"({result.mismatched_bytes} bytes); first mismatch: {result.mismatch}")
