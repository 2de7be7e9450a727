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


def executor_options(f):
    """--executor local|ray, -j/--jobs, --ray-address, --cpus, --max-retries (shared by every sweep and search)."""
    opts = [
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="Where units run: local processes, or Ray (embedded without --ray-address)."),
        click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
                     help="Local worker processes (--executor local)."),
        click.option("--ray-address", default=None,
                     help="Join a running Ray cluster: 'auto' or HOST:PORT (default: start Ray embedded)."),
        click.option("--cpus", type=click.IntRange(1), default=None,
                     help="Ray: CPUs of the embedded instance, or units in flight on a cluster [default: all]."),
        click.option("--max-retries", type=click.IntRange(0), default=3, show_default=True,
                     help="Re-runs of a unit whose worker process died."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def executor_spec(executor, jobs, ray_address, cpus, max_retries):
    from ..executors import ExecutorSpec

    return ExecutorSpec(executor, jobs=jobs, address=ray_address, cpus=cpus, max_retries=max_retries)


@click.command(help="Prune one layer of MODEL at a time at each ratio and measure accuracy and loss on the held-out "
                    "test split (probe data: separate probe inputs), without fine-tuning unless --recovery-epochs. "
                    "Units run in this process, local processes or on Ray (--executor); finished units are "
                    "cached (key: model hash + settings), so an interrupted sweep resumes where it stopped.")
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--data", "data_spec", default="digits", show_default=True,
              help="'digits', an .npz, or 'probe[:N]' (random structured inputs labelled by the model itself).")
@click.option("--granularity", type=click.Choice(["unstructured", "nm", "channel"]), default="unstructured",
              show_default=True)
@click.option("--criterion", default="l1", show_default=True, help="A pruning criterion (see docs/pruning.md).")
@click.option("--ratios", callback=_ratios, default=None, help="Comma-separated ratios [default: 0.1,...,0.9].")
@click.option("--nm", default="2:4", show_default=True, help="Pattern for --granularity nm (one point per layer).")
@click.option("--layers", default=None, help="Comma-separated layer names (default: every prunable layer).")
@click.option("--recovery-epochs", type=click.IntRange(0), default=0, show_default=True,
              help="Fine-tune each pruned copy this many epochs (mask kept) before measuring it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the recovery fine-tuning.")
@executor_options
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where finished points are kept [default: $TINYML_CACHE_DIR or ~/.cache/tinyml-prune].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="sens.json")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="PNG with one curve per layer.")
@force_option
def sensitivity(model_path, data_spec, granularity, criterion, ratios, nm, layers, recovery_epochs, seed,
                executor, jobs, ray_address, cpus, max_retries, cache_dir, output, plot, force):
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
    spec = executor_spec(executor, jobs, ray_address, cpus, max_retries)
    config = SweepConfig(granularity=granularity, criterion=criterion, ratios=ratios or DEFAULT_RATIOS,
                         nm=(n, m), recovery_epochs=recovery_epochs, seed=seed)
    only = [s.strip() for s in layers.split(",") if s.strip()] if layers else None
    result = run_sweep(model_path, data_spec, config, cache_dir=cache_dir, layers=only, executor=spec)
    write_json(output, result, force=force)
    if plot:
        plot_sensitivity(result, plot)
    metric = "accuracy" if result["metric"] == "accuracy" else "loss"
    click.echo(f"baseline {metric} {result['baseline'][metric]:.4f}")
    for name, layer in result["layers"].items():
        curve = " ".join(f"{p['ratio']:g}:{p[metric]:.3f}" for p in layer["points"])
        click.echo(f"  {name:<20} {curve}")
    click.echo(f"{result['computed']} points computed ({spec.describe()}), {result['reused']} from cache "
               f"-> {output}" + (f", plot {plot}" if plot else ""))


def _drop(ctx, param, value):
    import re

    m = re.fullmatch(r"\s*accuracy-drop\s*=\s*([0-9.]+)\s*", value or "")
    if not m or not 0 <= float(m.group(1)) < 1:
        raise click.BadParameter(f"{value!r}: use accuracy-drop=D with D a fraction, e.g. accuracy-drop=0.01")
    return float(m.group(1))


@click.command(help="Latency-aware search (NetAdapt-style): per-layer pruning ratios of MODEL that minimise the "
                    "predicted board instructions of its conv/FC kernels (the code generator's calibrated cost "
                    "model) while the measured accuracy drop stays within --budget. Candidates are evaluated in "
                    "parallel on the executor. Writes the result JSON, the Pareto front (accuracy, latency, "
                    "flash) as a Markdown table and a PNG.")
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--data", "data_spec", default="digits", show_default=True, help="'digits' or an .npz (labelled).")
@click.option("--budget", callback=_drop, default="accuracy-drop=0.01", show_default=True,
              help="Largest allowed drop of held-out accuracy.")
@click.option("--ratios", callback=_ratios, default=None, help="The per-layer ratio grid [default: 0.25,0.5,0.7,0.8,0.9].")
@click.option("--recovery-epochs", type=click.IntRange(0), default=0, show_default=True,
              help="Fine-tune every candidate this many epochs before measuring it.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the recovery fine-tuning.")
@click.option("--board", default="qemu-m4", show_default=True, help="Cost-model calibration to predict latency with.")
@executor_options
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where evaluated candidates are kept [default: $TINYML_CACHE_DIR or ~/.cache/tinyml-prune].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="search.json; the table goes to OUT.md and the plot to OUT.png beside it.")
@force_option
def search(model_path, data_spec, budget, ratios, recovery_epochs, seed, board, executor, jobs, ray_address, cpus,
           max_retries, cache_dir, output, force):
    from pathlib import Path

    from ..artifacts import ArtifactSet, check_output_set, write_json, write_text
    from ..sensitivity.plot import plot_pareto
    from ..sensitivity.search import DEFAULT_GRID, SearchConfig, pareto_table, run_search

    out = Path(output)
    stem = out.name.rsplit(".", 1)[0]
    table_path, png_path = out.with_name(stem + ".md"), out.with_name(stem + ".png")
    outputs = [out, table_path, png_path]
    check_output_set(outputs, force, extensions=(".json",))
    spec = executor_spec(executor, jobs, ray_address, cpus, max_retries)
    config = SearchConfig(accuracy_drop=budget, ratios=ratios or DEFAULT_GRID, recovery_epochs=recovery_epochs,
                          seed=seed, board=board)
    result = run_search(model_path, data_spec, config, executor=spec, cache_dir=cache_dir)
    table = pareto_table(result)
    with ArtifactSet(outputs, force) as staged:
        write_json(staged.path(out), result)
        write_text(staged.path(table_path), f"# Pareto front: {result['objective']}\n\n" + table)
        plot_pareto(result, staged.path(png_path))
    b, c = result["baseline"], result["chosen"]
    click.echo(table.rstrip())
    ratios_txt = ", ".join(f"{n} {r:g}" for n, r in c["ratios"].items()) or "none (dense)"
    click.echo(f"chosen: {ratios_txt}; latency {c['latency']:,.0f} instr. ({c['latency'] / b['latency']:.2f}x dense), "
               f"accuracy {c['accuracy']:.4f} (dense {b['accuracy']:.4f}), flash {c['flash']:,} B")
    click.echo(f"{result['evaluated']} candidates ({result['computed']} computed on {spec.describe()}) -> {out}, "
               f"{table_path}, {png_path}")
