import click

from .options import force_option


@click.command(help="Convert MODEL (Keras, pruned or not) to a full-integer int8 .tflite: int8 input and "
                    "output, per-channel int8 weights (Dense too), asymmetric int8 activations. By default "
                    "quantization-aware training on --data that keeps the pruner's zeros and N:M groups "
                    "exactly; --ptq for post-training quantization. Writes OUTPUT plus OUTPUT.report.json "
                    "(per-layer sparsity float vs int8, N:M check, float vs int8 accuracy), OUTPUT.md (summary: params, MACs, flash estimate) and OUTPUT.sparsity.png (per-layer bar chart).")
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--data", "data_spec", default="digits", show_default=True,
              help="'digits', an .npz (x_train, y_train, x_test, y_test), or 'probe[:N]': N smooth random "
                   "inputs labelled by the model itself, for models without data.")
@click.option("--qat-epochs", type=click.IntRange(0), default=3, show_default=True,
              help="Epochs of quantization-aware fine-tuning (0: calibrated ranges only, no training).")
@click.option("--ptq", is_flag=True, help="Post-training quantization instead of QAT.")
@click.option("--learning-rate", type=float, default=1e-4, show_default=True, help="QAT learning rate.")
@click.option("--per-tensor-dense", is_flag=True,
              help="One weight scale per Dense kernel (tfmot's default) instead of per output unit.")
@click.option("--calibration-samples", type=click.IntRange(1), default=200, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@force_option
def quantize(model_path, data_spec, qat_epochs, ptq, learning_rate, per_tensor_dense, calibration_samples,
             output, force):
    from ..artifacts import ArtifactSet, check_output_set, write_bytes, write_json
    from ..datacheck import check_against_model
    from ..modelio import load_model
    from ..quantize.ptq import dataset_for
    from ..quantize.qat import QATConfig
    from ..quantize.quantize_report import format_report, quantize_with_report, write_summary
    from .checks import check_quantizable

    method = "ptq" if ptq else "qat"
    report_path = output + ".report.json"
    outputs = [output, report_path, output + ".md", output + ".sparsity.png"]  # the .tflite last
    check_output_set(outputs, force, extensions=(".tflite",))
    model = load_model(model_path)
    ds = dataset_for(model, data_spec)
    check_against_model(ds, model)
    check_quantizable(model, method)
    config = QATConfig(epochs=qat_epochs, learning_rate=learning_rate, calibration_samples=calibration_samples,
                       dense_per_channel=not per_tensor_dense)
    tfl, report = quantize_with_report(model, ds, config, method=method)
    report["model"] = str(model_path)
    report["tflite"] = str(output)
    with ArtifactSet(outputs, force) as out:
        write_summary(report, model, tfl, str(out.path(output)), title=output)
        write_json(out.path(report_path), report)
        write_bytes(out.path(output), tfl)
    click.echo(format_report(report))
    click.echo(f"int8 ({report['method'].upper()}) -> {output}: {len(tfl)} bytes; report -> {report_path}, "
               f"{outputs[2]}, {outputs[3]}")
