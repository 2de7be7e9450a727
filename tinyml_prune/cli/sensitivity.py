import click

from .options import force_option


def _ratios(ctx, param, value):
    if value is None:
        return None
    try:
        ratios = tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: give comma-separated numbers, e.g. 0.1,0.5,0.9") from None
    bad = [r for r in ratios if not 0.0 < r < 1.0]
    if not ratios or bad:
        raise click.BadParameter(f"ratios must lie strictly between 0 and 1 (got {bad or value!r})")
    return ratios


@click.command(help="Prune one layer of MODEL at a time at each ratio (no fine-tuning) and measure accuracy and "
                    "loss on the held-out test split (probe data: separate probe inputs). Finished points are cached (key: model hash + "
                    "settings), so an interrupted sweep resumes where it stopped.")
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--data", "data_spec", default="digits", show_default=True,
              help="'digits', an .npz, or 'probe[:N]' (random structured inputs labelled by the model itself).")
@click.option("--granularity", type=click.Choice(["unstructured", "nm", "channel"]), default="unstructured",
              show_default=True)
@click.option("--criterion", default="l1", show_default=True, help="A pruning criterion (see docs/pruning.md).")
@click.option("--ratios", callback=_ratios, default=None, help="Comma-separated ratios [default: 0.1,...,0.9].")
@click.option("--nm", default="2:4", show_default=True, help="Pattern for --granularity nm (one point per layer).")
@click.option("--layers", default=None, help="Comma-separated layer names (default: every prunable layer).")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True, help="Worker processes.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where finished points are kept [default: $TINYML_CACHE_DIR or ~/.cache/tinyml-prune].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="sens.json")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="PNG with one curve per layer.")
@force_option
def sensitivity(model_path, data_spec, granularity, criterion, ratios, nm, layers, jobs, cache_dir,
                output, plot, force):
    from ..artifacts import check_writable, write_json
    from ..errors import ModelError
    from ..sensitivity.plot import plot_sensitivity
    from ..sensitivity.sweep import DEFAULT_RATIOS, SweepConfig, run_sweep

    check_writable(output, force)
    if plot:
        check_writable(plot, force)
    try:
        n, m = (int(v) for v in nm.split(":"))
        if not 0 < n < m:
            raise ValueError
    except ValueError:
        raise ModelError(f"--nm {nm!r}: expected N:M with 0 < N < M, e.g. 2:4") from None
    config = SweepConfig(granularity=granularity, criterion=criterion, ratios=ratios or DEFAULT_RATIOS,
                         nm=(n, m))
    only = [s.strip() for s in layers.split(",") if s.strip()] if layers else None
    result = run_sweep(model_path, data_spec, config, jobs=jobs, cache_dir=cache_dir, layers=only)
    write_json(output, result, force=force)
    if plot:
        plot_sensitivity(result, plot)
    metric = "accuracy" if result["metric"] == "accuracy" else "loss"
    click.echo(f"baseline {metric} {result['baseline'][metric]:.4f}")
    for name, layer in result["layers"].items():
        curve = " ".join(f"{p['ratio']:g}:{p[metric]:.3f}" for p in layer["points"])
        click.echo(f"  {name:<20} {curve}")
    click.echo(f"{result['computed']} points computed, {result['reused']} from cache -> {output}"
               + (f", plot {plot}" if plot else ""))
