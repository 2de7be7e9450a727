"""The ``tinyml`` command line.

Each subcommand lives in its own module and is imported only when it runs, so
``tinyml --help`` stays fast (TensorFlow takes seconds to import). A command appears
here only once it works end to end.
"""
from __future__ import annotations

import importlib
import os
import sys

import click

from ..errors import TinymlError

# name -> "module:function", in the order of the pipeline.
COMMANDS = {
    "train": "tinyml_prune.cli.train:train",
    "sensitivity": "tinyml_prune.cli.sensitivity:sensitivity",
    "prune": "tinyml_prune.cli.prune:prune",
    "search": "tinyml_prune.cli.sensitivity:search",
    "quantize": "tinyml_prune.cli.quantize:quantize",
    "codegen": "tinyml_prune.cli.codegen:codegen",
    "verify": "tinyml_prune.cli.verify:verify",
    "ops": "tinyml_prune.cli.ops:ops",
    "boards": "tinyml_prune.cli.boards:boards",
    "build": "tinyml_prune.cli.build:build",
    "flash": "tinyml_prune.cli.flash:flash",
    "profile": "tinyml_prune.cli.profile:profile",
    "deploy": "tinyml_prune.cli.deploy:deploy",
    "ampere": "tinyml_prune.cli.ampere:ampere",
}

HELP = {
    "train": "Train a built-in model (digits CNN or ResNet-style) and save it.",
    "sensitivity": "Per-layer pruning sensitivity curves (one layer at a time, cached, parallel) + PNG.",
    "prune": "Prune a Keras model (unstructured, N:M or channels; magnitude to second-order criteria).",
    "search": "Latency-aware per-layer ratios (NetAdapt-style, cost model) under an accuracy budget; Pareto table + PNG.",
    "quantize": "Keras -> int8 .tflite: sparsity-preserving QAT (default) or --ptq; per-layer sparsity report.",
    "codegen": "Generate C (weights, memory plan, kernel calls) from an int8 .tflite.",
    "verify": "Compile the generated C on the host and compare every byte with TFLite (or TFLite Micro).",
    "ops": "List the TFLite operators the code generator supports and each board's kernel variant.",
    "boards": "List the boards (emulated QEMU and real) with core, flash, RAM and clock.",
    "build": "Cross-compile a generated model directory for a board (adds board/ and a Makefile).",
    "flash": "Boot (QEMU) or flash (real board) the firmware and check that it answers.",
    "profile": "Measure latency, flash, RAM, accuracy and bit-exactness on a board; write report.json/.md.",
    "deploy": "The whole chain: train -> prune -> int8 -> C -> build -> flash -> profile, on a board.",
    "ampere": "Emulate the NVIDIA Ampere 2:4 sparse path per layer (bit-exact check) and model its GPU latency (--gpu: run it on one).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        cmd = getattr(importlib.import_module(module), attr)
        return cmd

    def format_commands(self, ctx, formatter):
        rows = [(name, HELP.get(name, "")) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tinyml-prune")
def cli():
    """tinyml-prune: prune, quantize and compile Keras models for Cortex-M boards."""


def _one_line(text: str) -> str:
    lines = [l for l in str(text).splitlines() if l.strip()]
    if len(lines) <= 1 or os.environ.get("TINYML_DEBUG"):
        return "\n".join(lines)
    detail = next((l.strip() for l in lines[1:] if "error" in l.lower()), None)
    head = f"{lines[0]} {detail}" if detail else lines[0]
    return f"{head} (+{len(lines) - 1} more lines with TINYML_DEBUG=1)"


def main(argv=None) -> int:
    """Exit codes: 0 done; 2 the inputs or the environment are at fault (one line says which);
    1 a bug of ours ("internal error"); 130 interrupted."""
    from ..artifacts import os_error_message
    from ..errors import is_tool_error, tool_error_message

    debug = bool(os.environ.get("TINYML_DEBUG"))
    try:
        cli.main(args=argv, prog_name="tinyml", standalone_mode=False)
    except TinymlError as e:
        click.echo(f"error: {_one_line(e)}", err=True)
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except OSError as e:  # unwritable directory, full disk, missing tool: the environment
        if debug:
            raise
        click.echo(f"error: {os_error_message(e)}", err=True)
        return 2
    except Exception as e:  # noqa: BLE001
        if debug:
            raise
        tool = tool_error_message(e)
        if tool is not None and is_tool_error(e):  # TensorFlow refused the model or the data
            click.echo(f"error: {tool} (set TINYML_DEBUG=1 for the full text)", err=True)
            return 2
        what = tool or f"{type(e).__name__}: {_one_line(e)}"
        click.echo(f"internal error: {what} (set TINYML_DEBUG=1 for the traceback; please report it)", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
