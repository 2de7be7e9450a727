import click

from .options import data_option, force_option


@click.command(help="Train a built-in model on --data and save it (.keras or .h5).")
@data_option
@click.option("--arch", type=click.Choice(["cnn", "resnet"]), default="cnn", show_default=True,
              help="cnn: Conv+BN+ReLU, DepthwiseConv, 1x1 Conv, Dense. resnet: residual blocks with Add.")
@click.option("--epochs", type=int, default=40, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to save the model.")
@force_option
def train(data_spec, arch, epochs, seed, output, force):
    from .. import data
    from ..artifacts import check_writable

    check_writable(output, force, extensions=(".keras", ".h5"))  # before minutes of training
    ds = data.load(data_spec)  # refuses non-finite inputs and bad labels, before TensorFlow loads
    from .. import models
    from ..modelio import save_model

    model = models.train(arch, ds, models.TrainConfig(epochs=epochs, seed=seed))
    acc = models.accuracy(model, ds.x_test, ds.y_test)
    save_model(model, output, force=force)
    click.echo(f"{arch} on {ds.name}: test accuracy {acc:.4f} ({len(ds.y_test)} images), "
               f"{model.count_params()} params -> {output}")
