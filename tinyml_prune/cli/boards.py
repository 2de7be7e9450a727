import click


@click.command(help="List the boards: core, flash, RAM, clock, and whether they are emulated (QEMU).")
def boards():
    from ..boards import all_boards

    rows = [("board", "core", "flash", "RAM", "clock", "kind", "latency unit")]
    for b in all_boards():
        kind = f"emulated ({b.connection.machine})" if b.emulated else f"real ({b.connection.flasher})"
        rows.append((b.name, b.core + ("+mve" if b.mve else ""), _kib(b.flash.size), _kib(b.ram.size),
                     f"{b.clock_hz / 1e6:g} MHz", kind, b.latency_unit))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


def _kib(n: int) -> str:
    return f"{n // (1 << 20)} MB" if n % (1 << 20) == 0 else f"{n // 1024} KB"
