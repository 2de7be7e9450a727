"""`tinyml deploy`: the whole chain, every stage's artifact kept in the output directory.

    OUT/model.keras          trained (only when no model was given)
    OUT/pruned.keras         pruned + fine-tuned; pruned.prune.json its per-layer table
    OUT/model_int8.tflite    int8 (QAT keeping the zeros, or PTQ); .report.json/.md/.sparsity.png
    OUT/firmware/            generated C (+ manifest.json) + board/ + Makefile + build/firmware.elf
    OUT/report.json, .md     on-device measurements
    OUT/deploy.json          what each stage did and how long it took
A failing stage leaves the earlier artifacts and deploy.json (with the error) in place.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..artifacts import write_bytes, write_json
from ..errors import OutputExistsError, TinymlError
from .pipeline import ModelStages

STAGES = ("train", "prune", "quantize", "codegen", "build", "profile")


@dataclass(frozen=True)
class DeployConfig:
    board: str = "qemu-m4"
    data: str = "digits"
    arch: str = "cnn"
    epochs: int = 40
    stages: ModelStages = field(default_factory=ModelStages)
    format: str = "auto"  # codegen weight format (see `tinyml codegen --format`)
    opt: str = "-O2"
    n: int | None = None  # on-device inferences; default the whole test set
    exact: bool = True
    per_layer: bool = False  # also profile every layer (build-layers/, harness/layers.py)


def describe(cfg: DeployConfig) -> dict:
    """JSON-able settings of a deploy run (the pruning part as a recipe would write it)."""
    d = {k: v for k, v in asdict(replace(cfg, stages=ModelStages(prune=None))).items() if k != "stages"}
    d["prune"] = None if cfg.stages.prune is None else cfg.stages.prune.to_dict()
    d["quantize"] = {"method": "ptq" if cfg.stages.ptq else "qat", **asdict(cfg.stages.qat)}
    return d


def prepare_output(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise OutputExistsError(f"{out} exists and is not empty; pass --force to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def deploy(model_path: str | None, out: str | Path, cfg: DeployConfig, force: bool = False,
           ui=None) -> dict:
    """Run every stage; ``ui`` is a Progress-like object with stage(name) / done(name, text)."""
    from .. import data as data_mod
    from ..boards import load, make_board

    out = Path(out)
    board_config = load(cfg.board)  # fail on a bad board name before any training
    prepare_output(out, force)
    log = {"config": describe(cfg), "model": model_path, "stages": {}}
    ui = ui or _SilentUI()

    def run(name, fn):
        ui.stage(name)
        t0 = time.monotonic()
        try:
            result, summary = fn()
        except (TinymlError, KeyboardInterrupt) as e:
            log["stages"][name] = {"error": str(e) or type(e).__name__, "seconds": round(time.monotonic() - t0, 2)}
            log["failed_stage"] = name
            write_json(out / "deploy.json", log)
            raise
        log["stages"][name] = {**summary, "seconds": round(time.monotonic() - t0, 2)}
        write_json(out / "deploy.json", log)
        ui.done(name, summary)
        return result

    ds = data_mod.load(cfg.data)

    def train():
        from .. import models
        from ..modelio import load_model, save_model

        if model_path:
            m = load_model(model_path)
            return m, {"source": str(model_path), "float_accuracy": models.accuracy(m, ds.x_test, ds.y_test)}
        m = models.train(cfg.arch, ds, models.TrainConfig(epochs=cfg.epochs))
        save_model(m, out / "model.keras")
        return m, {"artifact": "model.keras", "float_accuracy": models.accuracy(m, ds.x_test, ds.y_test)}

    model = run("train", train)

    def prune():
        from .. import models
        from ..modelio import save_model
        from .pipeline import prune as prune_model, weight_sparsity

        pc = cfg.stages.prune
        p, report = prune_model(model, ds, pc)
        if report is None:
            return p, {"granularity": "none"}
        save_model(p, out / "pruned.keras")
        write_json(out / "pruned.prune.json", report.to_dict())
        return p, {"artifact": "pruned.keras", "granularity": pc.granularity, "criterion": pc.criterion,
                   "params": f"{report.totals['params_before']} -> {report.totals['params_after']}"
                   if "params_before" in report.totals else None,
                   "float_accuracy": models.accuracy(p, ds.x_test, ds.y_test), "weight_sparsity": weight_sparsity(p)}

    pruned = run("prune", prune)

    def quantize():
        from ..quantize.quantize_report import write_summary
        from .pipeline import quantize as quantize_model

        blob, report = quantize_model(pruned, ds, cfg.stages)
        tfl_path = out / "model_int8.tflite"
        write_bytes(tfl_path, blob)
        report["model"] = "pruned.keras" if cfg.stages.prune is not None else str(model_path or "model.keras")
        report["tflite"] = tfl_path.name
        write_summary(report, pruned, blob, str(tfl_path))
        write_json(out / "model_int8.tflite.report.json", report)
        kept = all(r["zeros_identical"] and r["nm_int8_intact"] is not False for r in report["layers"])
        return blob, {"artifact": "model_int8.tflite", "method": report["method"], "bytes": len(blob),
                      "int8_accuracy": report["int8"], "sparsity_kept": kept}

    tflite = run("quantize", quantize)

    def codegen():
        from tinyml_prune.codegen import generate
        from tinyml_prune.codegen.generate import CodegenOptions

        from tinyml_prune.codegen.formats.costmodel import Target

        options = CodegenOptions(format=cfg.format, target=Target.from_board(board_config))
        res = generate(tflite, out / "firmware", options, source="model_int8.tflite")
        m = res.manifest
        return res, {"artifact": "firmware/", "format": cfg.format, "weight_bytes": m["weight_bytes"],
                     "arena_bytes": m["arena_bytes"], "macs": m["macs"], "layers": len(m["layers"])}

    run("codegen", codegen)
    board = make_board(board_config, exact=cfg.exact) if board_config.emulated else make_board(board_config)

    def build():
        from .elfsize import elf_sizes

        project = board.build(out / "firmware", cfg.opt)
        s = elf_sizes(project.elf)
        return project, {"artifact": "firmware/build/firmware.elf", "flash_bytes": s.flash_bytes,
                         "static_ram_bytes": s.static_ram_bytes}

    run("build", build)

    def profile():
        from .profile import ProfileConfig, profile as run_profile

        progress = getattr(ui, "inference", None)
        r = run_profile(out / "firmware", board, ProfileConfig(n=cfg.n, data=cfg.data, per_layer=cfg.per_layer),
                        out / "report.json",
                        progress=progress)
        return r, {"artifact": "report.json", "bit_exact": r["bit_exact"], "accuracy": r["accuracy"],
                   "latency_median": r["latency"]["median"], "unit": r["latency"]["unit"]}

    # `tinyml profile OUT/firmware` later finds OUT/model_int8.tflite beside it by its sha256.
    return run("profile", profile)


class _SilentUI:
    def stage(self, name):
        pass

    def done(self, name, summary):
        pass
