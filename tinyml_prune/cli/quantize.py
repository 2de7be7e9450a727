import click

from .options import data_option, force_option


@click.command(help="Convert MODEL (Keras) to a full-integer int8 .tflite: int8 input and output, "
                    "per-channel int8 weights, activations calibrated on the training data.")
@click.argument("model_path", type=click.Path(exists=True))
@data_option
@click.option("--calibration-samples", type=int, default=200, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@force_option
def quantize(model_path, data_spec, calibration_samples, output, force):
    from .. import data, models
    from ..artifacts import check_writable, write_bytes
    from ..modelio import load_model
    from ..quantize import convert_ptq, tflite_accuracy

    check_writable(output, force)
    ds = data.load(data_spec)
    model = load_model(model_path)
    tfl = convert_ptq(model, ds.calibration(calibration_samples))
    write_bytes(output, tfl, force=force)
    f_acc = models.accuracy(model, ds.x_test, ds.y_test)
    q_acc = tflite_accuracy(tfl, ds.x_test, ds.y_test)
    click.echo(f"int8 (PTQ) -> {output}: {len(tfl)} bytes; test accuracy float {f_acc:.4f}, int8 {q_acc:.4f}")
