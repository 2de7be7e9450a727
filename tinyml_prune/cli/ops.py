import click


@click.command(help="List the TFLite operators the code generator supports, and which kernel variant "
                    "(MVE, DSP or portable reference C) a board runs for each. 'folded': computed at code "
                    "generation when its inputs are constant (shape arithmetic); '-': no code on the board.")
@click.option("--board", default=None, help="Show the kernel variants of this board (see `tinyml boards`).")
def ops(board):
    from ..boards import load
    from ..codegen.catalog import supported_ops

    variants = load(board).kernel_variants if board else ["reference"]
    rows = [("operator", "kernel", "folded", "notes")]
    support = supported_ops(variants)
    for r in support:
        rows.append((r.opcode, r.kernel, "yes" if r.folds else "", r.note))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        click.echo("  ".join([*(v.ljust(w) for v, w in zip(r[:3], widths)), r[3]]).rstrip())
    click.echo(f"\n{sum(1 for r in support if r.kernel != '-')} operators with kernels"
               + (f" on {board}" if board else " (portable C; pass --board for a board's variants)")
               + "; anything else is refused by name, with its operator index.")
