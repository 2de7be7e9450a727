import click

from .board_options import board_option, port_option


@click.command(help="Run DIR's firmware on the board and measure latency, flash, RAM, accuracy and "
                    "bit-exactness against TFLite. Without --data, seeded random inputs (no accuracy).")
@click.argument("project_dir", type=click.Path(exists=True, file_okay=False))
@board_option
@port_option
@click.option("--data", "data_spec", default=None, help="'digits' or an .npz with x_test/y_test.")
@click.option("-n", "n", type=int, default=None, help="Number of inferences (default: all test samples, or 10).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--tflite", default=None, type=click.Path(exists=True, dir_okay=False),
              help="The source .tflite (default: found by sha256 in DIR or its parent).")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="report.json path (default DIR/report.json); report.md is written beside it.")
@click.option("--counter", type=click.Choice(["exact", "systick"]), default="exact", show_default=True,
              help="QEMU boards: exact instruction count (our TCG plugin) or SysTick under -icount.")
@click.option("--per-layer", is_flag=True,
              help="Also build DIR/build-layers (-DTP_PROFILE_LAYERS) and measure every layer; for a model "
                   "with 2:4 layers, also dense vs 2:4 per layer for the Ampere side-by-side.")
@click.option("--layer-runs", type=click.IntRange(1), default=3, show_default=True,
              help="Inferences of the per-layer profiling build.")
@click.option("--force", is_flag=True, help="Overwrite an existing report.")
def profile(project_dir, board_name, port, data_spec, n, seed, tflite, output, counter, per_layer, layer_runs,
            force):
    from pathlib import Path

    from ..artifacts import check_writable
    from ..boards import load, make_board
    from ..harness.profile import ProfileConfig, profile as run_profile
    from ..harness.report import markdown

    out = Path(output) if output else Path(project_dir) / "report.json"
    check_writable(out, force)
    config = load(board_name)
    board = make_board(config, exact=counter == "exact") if config.emulated else make_board(config, port=port)
    cfg = ProfileConfig(n=n, data=data_spec, seed=seed, tflite=tflite, per_layer=per_layer, layer_runs=layer_runs)
    report = run_profile(project_dir, board, cfg, out)
    click.echo(markdown(report))
    click.echo(f"-> {out} and {out.with_suffix('.md')}")
