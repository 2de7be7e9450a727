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


@click.command(help="The whole chain on a board: train (when MODEL is not given) -> prune -> int8 -> C -> "
                    "build -> flash -> profile. Every artifact is kept in OUT; the report is printed.")
@click.argument("model_path", required=False, type=click.Path(exists=True))
@data_option
@board_option
@click.option("--granularity", type=click.Choice(["nm", "unstructured", "none"]), default="nm", show_default=True)
@click.option("--nm", "nm", default="2:4", show_default=True, help="N:M pattern for --granularity nm (tfmot sparsity_m_by_n).")
@click.option("--sparsity", type=float, default=0.5, show_default=True, help="Target for --granularity unstructured.")
@click.option("--finetune-epochs", type=int, default=4, show_default=True)
@click.option("--epochs", type=int, default=40, show_default=True, help="Training epochs when no MODEL is given.")
@opt_option
@click.option("-n", "n", type=int, default=None, help="On-device inferences (default: the whole test set).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Output directory.")
@force_option
def deploy(model_path, data_spec, board_name, granularity, nm, sparsity, finetune_epochs, epochs, opt, n, output, force):
    from ..harness.deploy import DeployConfig, deploy as run_deploy
    from ..harness.pipeline import PruneConfig, parse_nm
    from ..harness.report import markdown

    cfg = DeployConfig(board=board_name, data=data_spec, epochs=epochs, opt=opt, n=n,
                       prune=PruneConfig(granularity=granularity, nm=parse_nm(nm), sparsity=sparsity,
                                         finetune_epochs=finetune_epochs))
    ui = RichUI()
    try:
        report = run_deploy(model_path, output, cfg, force=force, ui=ui)
    finally:
        ui.stop()
    click.echo("")
    click.echo(markdown(report))
    click.echo(f"artifacts in {output}/ (report.json, report.md, deploy.json)")
