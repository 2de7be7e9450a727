"""report.json (machine-readable) and report.md (for people) from one profile run."""
from __future__ import annotations

from pathlib import Path

from ..ampere.report import ampere_markdown, speedup_chart
from ..artifacts import write_json, write_text


def _fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.1f}{unit}" if abs(v) >= 100 else f"{v:.4f}{unit}"
    if isinstance(v, int):
        return f"{v:,}{unit}"
    return f"{v}{unit}"


def markdown(r: dict) -> str:
    lat = r.get("latency") or {}
    unit = lat.get("unit", "")
    lines = [
        f"# {r['board']}: {r.get('model_name') or r['model_sha256'][:12]}",
        "",
        f"Model sha256 `{r['model_sha256']}`, format `{r.get('format')}`, core {r.get('core')} "
        f"at {_fmt(r.get('clock_hz'))} Hz, built with `{r.get('opt')}`.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| latency median ({unit}) | {_fmt(lat.get('median'))} |",
        f"| latency min / max ({unit}) | {_fmt(lat.get('min'))} / {_fmt(lat.get('max'))} |",
    ]
    if lat.get("median_us") is not None:
        lines.append(f"| latency median (µs at {r['clock_hz'] / 1e6:g} MHz) | {lat['median_us']:.1f} |")
    lines += [
        f"| flash (text + rodata + data) | {_fmt(r.get('flash_bytes'), ' B')} |",
        f"| RAM (data + bss + peak stack) | {_fmt(r.get('ram_bytes'), ' B')} |",
        f"| activation arena | {_fmt(r.get('arena_bytes'), ' B')} |",
        f"| peak stack (painted) | {_fmt(r.get('stack_peak_bytes'), ' B')} |",
        f"| inferences | {_fmt(r.get('n'))} |",
        f"| on-device accuracy | {_fmt(r.get('accuracy'))} |",
        f"| int8 TFLite accuracy (same samples) | {_fmt(r.get('tflite_accuracy'))} |",
        f"| bit-exact with TFLite (BUILTIN_REF) | {r.get('bit_exact')} ({r.get('mismatched_outputs', '—')} mismatched outputs) |",
    ]
    if lat.get("counter") == "qemu-tcg-plugin":
        lines += ["", "QEMU does not model cycles: latency is the exact number of executed instructions, "
                      "counted by our QEMU TCG plugin between two marker functions around the model call (`tp_model_invoke`)."]
    elif lat.get("counter") == "systick-icount":
        lines += ["", "QEMU does not model cycles: latency is executed instructions, counted by SysTick "
                      f"under `-icount shift=0` (resolution {lat.get('resolution')} instructions)."]
    if not r.get("complete", True):
        lines += ["", f"**Incomplete run**: {r.get('error')}"]
    if r.get("layers"):
        from .layers import layers_markdown

        lines += ["", layers_markdown(r["layers"], r["layer_profile"])]
    if r.get("layers_error"):
        lines += ["", f"**Per-layer profiling failed**: {r['layers_error']}"]
    amp = r.get("ampere_2to4")
    if amp and "error" in amp:
        lines += ["", f"Emulated Ampere 2:4 path: not available ({amp['error']})."]
    elif amp:
        lines += ["", ampere_markdown(amp), "![2:4 speed-up per layer](ampere_speedup.png)"]
    return "\n".join(lines) + "\n"


def write_report(report: dict, json_path: str | Path) -> tuple[Path, Path]:
    json_path = Path(json_path)
    md_path = json_path.with_suffix(".md")
    write_json(json_path, report)
    write_text(md_path, markdown(report))
    if report.get("ampere_2to4") and "error" not in report["ampere_2to4"]:
        speedup_chart(report["ampere_2to4"], json_path.with_name("ampere_speedup.png"))
    return json_path, md_path
