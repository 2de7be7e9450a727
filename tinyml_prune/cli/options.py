"""Options shared by several commands."""
import click

data_option = click.option(
    "--data", "data_spec", default="digits", show_default=True,
    help="'digits' (scikit-learn's offline 8x8 digits) or a .npz with x_train, y_train, x_test, y_test (NHWC float32).",
)
force_option = click.option("--force", is_flag=True, help="Overwrite existing outputs.")
