import click

from .board_options import board_option, opt_option
from .options import data_option, force_option


class RichUI:
    """One line per stage: a spinner while it runs, then its result and duration."""

    def __init__(self):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.status = None
        self.t0 = None

    def stage(self, name):
        import time

        self.t0 = time.monotonic()
        self.status = self.console.status(f"[bold]{name}[/bold] …")
        self.status.start()

    def inference(self, i, n):
        if self.status is not None:
            self.status.update(f"[bold]profile[/bold] … inference {i}/{n}")

    def done(self, name, summary):
        import time

        self.status.stop()
        shown = ", ".join(f"{k} {_short(v)}" for k, v in summary.items() if k not in ("weight_sparsity",))
        self.console.print(f"[green]✓[/green] {name:<9} {time.monotonic() - self.t0:6.1f} s  {shown}", soft_wrap=True)
        if "weight_sparsity" in summary:
            sp = ", ".join(f"{k} {v:.2f}" for k, v in summary["weight_sparsity"].items())
            self.console.print(f"  {'':<9}          zeros per layer: {sp}", soft_wrap=True)

    def stop(self):
        if self.status is not None:
            self.status.stop()


def _short(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


_CRITERIA = ["l1", "l2", "bn", "apoz", "taylor", "hessian", "chita"]
_FORMATS = ["auto", "dense", "slim", "csr", "bitmask", "nm"]


@click.command(help="The whole chain on a board: train (when MODEL is not given) -> prune -> int8 -> C -> "
                    "build -> flash -> profile. Every artifact is kept in OUT; the report is printed. "
                    "Pruning and quantization options are those of `tinyml prune` and `tinyml quantize`.")
@click.argument("model_path", required=False, type=click.Path(exists=True))
@data_option
@board_option
@click.option("--arch", type=click.Choice(["cnn", "resnet"]), default="cnn", show_default=True,
              help="Built-in model trained when MODEL is not given.")
@click.option("--epochs", type=int, default=40, show_default=True, help="Training epochs when no MODEL is given.")
@click.option("--granularity", type=click.Choice(["nm", "unstructured", "channel", "none"]), default=None,
              help="[default: nm, or the recipe's]")
@click.option("--nm", "nm", default=None, help="N:M pattern for --granularity nm. [default: 2:4]")
@click.option("--sparsity", type=float, default=None, help="Target for unstructured / channel. [default: 0.5]")
@click.option("--criterion", type=click.Choice(_CRITERIA), default=None, help="[default: l1]")
@click.option("--schedule", type=click.Choice(["auto", "oneshot", "iterative", "gradual"]), default=None,
              help="[default: auto = gradual for unstructured >= 70% with >= 4 epochs, else oneshot]")
@click.option("--finetune-epochs", type=int, default=None, help="[default: 4]")
@click.option("--recipe", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Pruning recipe TOML (see docs/pruning.md); options given here win over it.")
@click.option("--qat-epochs", type=click.IntRange(min=0), default=3, show_default=True,
              help="Quantization-aware training epochs (keeps the pruned zeros and N:M groups).")
@click.option("--ptq", is_flag=True, help="Post-training quantization instead of QAT.")
@click.option("--format", "weight_format", type=click.Choice(_FORMATS), default="auto", show_default=True,
              help="Codegen weight format; auto picks per layer by the board cost model, never slower than dense.")
@opt_option
@click.option("-n", "n", type=int, default=None, help="On-device inferences (default: the whole test set).")
@click.option("--per-layer", is_flag=True,
              help="Also measure every layer (a -DTP_PROFILE_LAYERS build in firmware/build-layers) and, for "
                   "2:4 layers, dense vs 2:4 per layer next to the Ampere model.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output directory.")
@force_option
def deploy(model_path, data_spec, board_name, arch, epochs, granularity, nm, sparsity, criterion, schedule,
           finetune_epochs, recipe, qat_epochs, ptq, weight_format, opt, n, per_layer, output, force):
    from ..harness.deploy import DeployConfig, deploy as run_deploy
    from ..harness.pipeline import ModelStages, prune_config
    from ..harness.report import markdown
    from ..quantize.qat import QATConfig

    overrides = dict(nm=nm, sparsity=sparsity, criterion=criterion,
                     schedule={"kind": schedule} if schedule else None,
                     finetune={"epochs": finetune_epochs} if finetune_epochs is not None else None)
    stages = ModelStages(prune=prune_config(granularity, recipe, **overrides),
                         qat=QATConfig(epochs=qat_epochs), ptq=ptq)
    cfg = DeployConfig(board=board_name, data=data_spec, arch=arch, epochs=epochs, stages=stages,
                       format=weight_format, opt=opt, n=n, per_layer=per_layer)
    ui = RichUI()
    try:
        report = run_deploy(model_path, output, cfg, force=force, ui=ui)
    finally:
        ui.stop()
    click.echo("")
    click.echo(markdown(report))
    click.echo(f"artifacts in {output}/ (report.json, report.md, deploy.json)")
