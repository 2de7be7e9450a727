import click

from .options import force_option
from .sensitivity import executor_options, executor_spec

_CRITERIA = ["l1", "l2", "bn", "apoz", "taylor", "hessian", "chita", "obs"]


@click.command(help="Prune MODEL (tf_keras .h5/.keras/SavedModel, or a Keras 3 .keras) and save a plain "
                    "Keras model with zeros in its kernels (channel: a physically smaller model). Prints a "
                    "per-layer table and writes it as JSON beside the output (OUT.prune.json). Options given "
                    "here override the --recipe file.")
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--data", "data_spec", default="digits", show_default=True,
              help="'digits', an .npz (x_train, y_train, x_test, y_test), or 'probe[:N]': N smooth random "
                   "inputs labelled by the dense model's own predictions (for models without data).")
@click.option("--granularity", type=click.Choice(["unstructured", "nm", "channel"]), default=None,
              help="[default: unstructured]")
@click.option("--sparsity", type=float, default=None, help="Fraction of weights (channels) to remove. [default: 0.5]")
@click.option("--nm", default=None, help="N:M pattern for --granularity nm. [default: 2:4]")
@click.option("--criterion", type=click.Choice(_CRITERIA), default=None, help="[default: l1]")
@click.option("--schedule", type=click.Choice(["auto", "oneshot", "iterative", "gradual"]), default=None,
              help="[default: auto = gradual for unstructured >= 70% with >= 4 epochs, else oneshot]")
@click.option("--finetune-epochs", type=int, default=None, help="Fine-tuning epochs (reduced learning rate). [default: 0]")
@click.option("--distill", type=click.Choice(["auto", "on", "off"]), default=None,
              help="Fine-tune by distilling the dense model's logits. [default: auto = on for channel]")
@click.option("--scope", type=click.Choice(["layer", "global"]), default=None,
              help="Unstructured: every layer at the target, or one global threshold. [default: layer]")
@click.option("--skip", default=None, help="Comma-separated layers to keep dense: names, 'first', 'last'.")
@click.option("--hessian-dtype", type=click.Choice(["float32", "float16"]), default=None,
              help="Precision of the Hessian-vector products (criterion hessian). [default: float32]")
@click.option("--recipe", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML recipe (see docs/pruning.md); command-line options win over it.")
@click.option("--auto", "auto_budget", default=None,
              help="Choose per-layer ratios for a budget: accuracy-drop=0.01 | flash=48KiB | macs=0.5 "
                   "(see docs/sensitivity.md). Writes OUT.auto.json with predicted vs measured.")
@click.option("--auto-from", type=click.Choice(["sensitivity", "hessian"]), default="sensitivity", show_default=True,
              help="Damage curves from a sweep (--sensitivity) or Hutchinson Hessian traces (HAP-style, no sweep).")
@click.option("--sensitivity", "sensitivity_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="sens.json from `tinyml sensitivity` (for --auto); without it --auto runs the sweep first "
                   "(default ratios, cached) on the executor and keeps it as OUT.sens.json.")
@click.option("--format", "weight_format", type=click.Choice(["csr", "bitmask", "dense"]), default="csr",
              show_default=True, help="Codegen weight format a flash= budget is counted in.")
@executor_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@force_option
def prune(model_path, data_spec, granularity, sparsity, nm, criterion, schedule, finetune_epochs, distill, scope,
          skip, hessian_dtype, recipe, auto_budget, auto_from, sensitivity_path, weight_format, executor, jobs, ray_address, cpus, max_retries,
          output, force):
    from pathlib import Path

    from ..artifacts import check_output_set
    from ..modelio import load_model
    from ..pruning import api

    out = Path(output)
    paths = _OutputPaths(out, auto_budget, auto_from, sensitivity_path)
    check_output_set(paths.outputs, force, extensions=(".keras", ".h5"))
    overrides = dict(granularity=granularity, sparsity=sparsity, nm=nm, criterion=criterion, scope=scope,
                     skip=None if skip is None else tuple(s for s in skip.split(",") if s.strip()),
                     schedule={"kind": schedule} if schedule else None,
                     finetune={k: v for k, v in (("epochs", finetune_epochs), ("distill", distill))
                               if v is not None} or None)
    config = _prune_config(recipe, overrides, hessian_dtype)

    model = load_model(model_path)
    data, ds, x_test, y_test = _load_data(model, data_spec)

    auto_info = sens_result = None
    if auto_budget:
        if data_spec.startswith("probe"):
            from ..errors import DataError

            raise DataError("--auto measures accuracy: give it a labelled dataset (digits or an .npz)")
        executor_args = (executor, jobs, ray_address, cpus, max_retries) if paths.sweep_first else None
        config, auto_info, sens_result = _auto_config(model, model_path, data_spec, ds, config, auto_budget,
                                                      auto_from, sensitivity_path, weight_format, executor_args)

    from .checks import kept_dense_rows

    pruned, report = api.prune(model, config, data)
    report.rows.extend(kept_dense_rows(model, report))  # recurrent, custom...: never silently
    if auto_info is not None:
        from ..pruning import auto

        auto_info["measured"] = auto.measure(auto_info, model, pruned, ds, weight_format)
        auto_info["finetune_epochs"] = config.finetune.epochs
    _compare_with_dense(model, pruned, x_test, y_test, report)
    _write_outputs(paths, force, pruned, report, auto_info, sens_result)
    _print_summary(out, paths, config, report, auto_info)


class _OutputPaths:
    """OUT and the files written beside it (OUT.prune.json, OUT.auto.json, OUT.sens.json)."""

    def __init__(self, out, auto_budget, auto_from, sensitivity_path):
        stem = out.name.rsplit(".", 1)[0]
        self.out = out
        self.report = out.with_name(stem + ".prune.json")
        self.auto = out.with_name(stem + ".auto.json")
        self.sens = out.with_name(stem + ".sens.json")
        self.outputs = [out, self.report] + ([self.auto] if auto_budget else [])  # the model is renamed last
        # --auto without a sens.json runs the sweep first and keeps it as OUT.sens.json
        self.sweep_first = bool(auto_budget) and auto_from == "sensitivity" and not sensitivity_path
        if self.sweep_first:
            self.outputs.append(self.sens)


def _prune_config(recipe, overrides: dict, hessian_dtype):
    """The recipe (or the defaults) with the command-line options over it."""
    from ..pruning.config import PruneConfig, load_recipe, merge

    config = load_recipe(recipe, **overrides) if recipe else merge(PruneConfig(), **overrides)
    if hessian_dtype:
        opts = dict(config.criterion_options, dtype=hessian_dtype)
        config = merge(config, criterion_options=opts)
    return config


def _load_data(model, data_spec: str):
    """(data for the pruner, the Dataset or None for probe data, x_test, y_test or None)."""
    from .. import data as data_mod
    from ..datacheck import check_against_model
    from ..errors import DataError

    if data_spec.startswith("probe"):
        from ..pruning.probe_data import probe_dataset

        n = int(data_spec.split(":", 1)[1]) if ":" in data_spec else 512
        x_train, x_test = probe_dataset(model, n, n)
        return (x_train, None), None, x_test, None
    ds = data_mod.load(data_spec)
    try:
        check_against_model(ds, model)
    except DataError as e:
        raise DataError(f"{e} (use --data probe for models without data)") from None
    return ds, ds, ds.x_test, ds.y_test


def _auto_config(model, model_path, data_spec, ds, config, auto_budget, auto_from, sensitivity_path,
                 weight_format, executor_args):
    """--auto: per-layer ratios for the budget applied to ``config``; (config, auto info, the sweep
    run first or None). ``executor_args`` are the executor options of that sweep, None when a
    sens.json was given."""
    from ..artifacts import write_json
    from ..pruning import auto

    budget = auto.parse_budget(auto_budget)
    sens_result = None
    if executor_args is not None:  # the sweep --auto needs, on the chosen executor (cached, resumable)
        import os
        import tempfile

        from ..sensitivity.sweep import SweepConfig, run_sweep

        spec = executor_spec(*executor_args)
        sens_result = run_sweep(model_path, data_spec, SweepConfig(criterion=config.criterion), executor=spec)
        fd, sensitivity_path = tempfile.mkstemp(suffix=".sens.json")
        os.close(fd)
        write_json(sensitivity_path, sens_result)
    req = auto.AutoRequest(budget, auto_from, sensitivity_path, weight_format,
                           tuple(config.skip))
    auto_info = auto.choose_ratios(model, ds, req, criterion=config.criterion)
    if executor_args is not None:
        os.unlink(sensitivity_path)
    return auto.apply_to_config(config, auto_info, model), auto_info, sens_result


def _compare_with_dense(model, pruned, x_test, y_test, report) -> None:
    """Agreement, accuracies (when the labels fit) and output MSE of the pruned vs the dense model."""
    import numpy as np

    from ..pruning import api
    from ..pruning.criteria.base import is_classifier

    dense_pred = model.predict(x_test, batch_size=256, verbose=0)
    pruned_pred = pruned.predict(x_test, batch_size=256, verbose=0)
    if is_classifier(model):
        report.metrics["agreement_with_dense"] = float((dense_pred.argmax(-1) == pruned_pred.argmax(-1)).mean())
    if api._targets_fit(model, y_test):
        report.metrics["accuracy_dense"] = float((dense_pred.argmax(-1) == y_test).mean())
        report.metrics["accuracy_pruned"] = float((pruned_pred.argmax(-1) == y_test).mean())
    report.metrics["output_mse_vs_dense"] = float(np.mean((dense_pred - pruned_pred) ** 2))


def _write_outputs(paths: _OutputPaths, force, pruned, report, auto_info, sens_result) -> None:
    from ..artifacts import ArtifactSet, write_json
    from ..modelio import save_model

    with ArtifactSet(paths.outputs, force) as staged:
        if auto_info is not None:
            write_json(staged.path(paths.auto), auto_info)
        if paths.sweep_first:
            write_json(staged.path(paths.sens), sens_result)
        write_json(staged.path(paths.report), report.to_dict())
        save_model(pruned, staged.path(paths.out), force=True)


def _print_summary(out, paths: _OutputPaths, config, report, auto_info) -> None:
    click.echo(report.table())
    m = report.metrics
    summary = ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float))
    click.echo(f"{config.granularity} / {config.criterion} ({report.estimator}) -> {out}; {summary}; "
               f"report {paths.report}")
    if auto_info is not None:
        from ..pruning import auto

        click.echo(auto.format_auto(auto_info) + f"\n-> {paths.auto}")
