"""`tinyml deploy`: the whole chain, every stage's artifact kept in the output directory.

    OUT/model.keras          trained (only when no model was given)
    OUT/pruned.keras         pruned + fine-tuned; pruned.prune.json its per-layer table
    OUT/model_int8.tflite    int8 (QAT keeping the zeros, or PTQ); .report.json/.md/.sparsity.png
    OUT/firmware/            generated C (+ manifest.json) + board/ + Makefile + build/firmware.elf
    OUT/report.json, .md     on-device measurements
    OUT/deploy.json          what each stage did and how long it took

The chain is a list of `Stage` objects (`PIPELINE`). Each stage's ``run(inputs)`` returns its
artifact (the value the next stages use; its file is the summary's ``"artifact"``) and a
JSON-able summary; `run_stages` runs them in order, times them and writes deploy.json after
each one. A failing stage leaves the earlier artifacts and deploy.json (with the error) in place.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from ..artifacts import write_bytes, write_json
from ..errors import OutputExistsError, TinymlError
from .pipeline import ModelStages


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


@dataclass
class StageInputs:
    """What a stage may read: the run's settings, the data set, the board, earlier artifacts."""

    model_path: str | None
    out: Path
    cfg: DeployConfig
    board_config: Any
    ds: Any
    ui: Any
    artifacts: dict[str, Any] = field(default_factory=dict)  # stage name -> its artifact
    board: Any = None  # set before the build stage


class Stage(ABC):
    """One step of the chain: ``run(inputs) -> (artifact, summary)``."""

    name: ClassVar[str]

    def before(self, inputs: StageInputs) -> None:
        """Set-up done between the previous stage and this one, outside its timing."""

    @abstractmethod
    def run(self, inputs: StageInputs) -> tuple[Any, dict]:
        """The stage's artifact (for the next stages) and its summary line's fields."""


class TrainStage(Stage):
    name = "train"

    def run(self, inputs):
        from .. import models
        from ..modelio import load_model, save_model

        ds, cfg = inputs.ds, inputs.cfg
        if inputs.model_path:
            m = load_model(inputs.model_path)
            return m, {"source": str(inputs.model_path), "float_accuracy": models.accuracy(m, ds.x_test, ds.y_test)}
        m = models.train(cfg.arch, ds, models.TrainConfig(epochs=cfg.epochs))
        save_model(m, inputs.out / "model.keras")
        return m, {"artifact": "model.keras", "float_accuracy": models.accuracy(m, ds.x_test, ds.y_test)}


class PruneStage(Stage):
    name = "prune"

    def run(self, inputs):
        from .. import models
        from ..modelio import save_model
        from .pipeline import prune as prune_model, weight_sparsity

        ds, pc, out = inputs.ds, inputs.cfg.stages.prune, inputs.out
        p, report = prune_model(inputs.artifacts["train"], ds, pc)
        if report is None:
            return p, {"granularity": "none"}
        save_model(p, out / "pruned.keras")
        write_json(out / "pruned.prune.json", report.to_dict())
        return p, {"artifact": "pruned.keras", "granularity": pc.granularity, "criterion": pc.criterion,
                   "params": f"{report.totals['params_before']} -> {report.totals['params_after']}"
                   if "params_before" in report.totals else None,
                   "float_accuracy": models.accuracy(p, ds.x_test, ds.y_test), "weight_sparsity": weight_sparsity(p)}


class QuantizeStage(Stage):
    name = "quantize"

    def run(self, inputs):
        from ..quantize.quantize_report import write_summary
        from .pipeline import quantize as quantize_model

        cfg, out, pruned = inputs.cfg, inputs.out, inputs.artifacts["prune"]
        blob, report = quantize_model(pruned, inputs.ds, cfg.stages)
        tfl_path = out / "model_int8.tflite"
        write_bytes(tfl_path, blob)
        report["model"] = "pruned.keras" if cfg.stages.prune is not None else str(inputs.model_path or "model.keras")
        report["tflite"] = tfl_path.name
        write_summary(report, pruned, blob, str(tfl_path))
        write_json(out / "model_int8.tflite.report.json", report)
        kept = all(r["zeros_identical"] and r["nm_int8_intact"] is not False for r in report["layers"])
        return blob, {"artifact": "model_int8.tflite", "method": report["method"], "bytes": len(blob),
                      "int8_accuracy": report["int8"], "sparsity_kept": kept}


class CodegenStage(Stage):
    name = "codegen"

    def run(self, inputs):
        from tinyml_prune.codegen import generate
        from tinyml_prune.codegen.formats.costmodel import Target
        from tinyml_prune.codegen.generate import CodegenOptions

        fmt = inputs.cfg.format
        options = CodegenOptions(format=fmt, target=Target.from_board(inputs.board_config))
        res = generate(inputs.artifacts["quantize"], inputs.out / "firmware", options, source="model_int8.tflite")
        m = res.manifest
        return res, {"artifact": "firmware/", "format": fmt, "weight_bytes": m["weight_bytes"],
                     "arena_bytes": m["arena_bytes"], "macs": m["macs"], "layers": len(m["layers"])}


class BuildStage(Stage):
    name = "build"

    def before(self, inputs):
        from ..boards import make_board

        bc = inputs.board_config
        inputs.board = make_board(bc, exact=inputs.cfg.exact) if bc.emulated else make_board(bc)

    def run(self, inputs):
        from .elfsize import elf_sizes

        project = inputs.board.build(inputs.out / "firmware", inputs.cfg.opt)
        s = elf_sizes(project.elf)
        return project, {"artifact": "firmware/build/firmware.elf", "flash_bytes": s.flash_bytes,
                         "static_ram_bytes": s.static_ram_bytes}


class ProfileStage(Stage):
    """On-device measurements. `tinyml profile OUT/firmware` later finds OUT/model_int8.tflite
    beside it by its sha256."""

    name = "profile"

    def run(self, inputs):
        from .profile import ProfileConfig, profile as run_profile

        cfg = inputs.cfg
        r = run_profile(inputs.out / "firmware", inputs.board,
                        ProfileConfig(n=cfg.n, data=cfg.data, per_layer=cfg.per_layer),
                        inputs.out / "report.json", progress=getattr(inputs.ui, "inference", None))
        return r, {"artifact": "report.json", "bit_exact": r["bit_exact"], "accuracy": r["accuracy"],
                   "latency_median": r["latency"]["median"], "unit": r["latency"]["unit"]}


PIPELINE: tuple[Stage, ...] = (TrainStage(), PruneStage(), QuantizeStage(), CodegenStage(), BuildStage(),
                               ProfileStage())
STAGES = tuple(s.name for s in PIPELINE)


def deploy(model_path: str | None, out: str | Path, cfg: DeployConfig, force: bool = False,
           ui=None) -> dict:
    """Run every stage; ``ui`` is a Progress-like object with stage(name) / done(name, text).

    Returns the profile report."""
    from .. import data as data_mod
    from ..boards import load

    out = Path(out)
    board_config = load(cfg.board)  # fail on a bad board name before any training
    prepare_output(out, force)
    log = {"config": describe(cfg), "model": model_path, "stages": {}}
    ui = ui or _SilentUI()
    inputs = StageInputs(model_path=model_path, out=out, cfg=cfg, board_config=board_config,
                         ds=data_mod.load(cfg.data), ui=ui)
    return run_stages(PIPELINE, inputs, log)


def run_stages(stages, inputs: StageInputs, log: dict) -> Any:
    """Run ``stages`` in order, each one's artifact kept in ``inputs.artifacts`` under its name;
    deploy.json is rewritten after every stage. Returns the last stage's artifact."""
    result = None
    for stage in stages:
        stage.before(inputs)
        result = _run_one(stage, inputs, log)
        inputs.artifacts[stage.name] = result
    return result


def _run_one(stage: Stage, inputs: StageInputs, log: dict) -> Any:
    name, ui, path = stage.name, inputs.ui, inputs.out / "deploy.json"
    ui.stage(name)
    t0 = time.monotonic()
    try:
        result, summary = stage.run(inputs)
    except (TinymlError, KeyboardInterrupt) as e:
        log["stages"][name] = {"error": str(e) or type(e).__name__, "seconds": round(time.monotonic() - t0, 2)}
        log["failed_stage"] = name
        write_json(path, log)
        raise
    log["stages"][name] = {**summary, "seconds": round(time.monotonic() - t0, 2)}
    write_json(path, log)
    ui.done(name, summary)
    return result


class _SilentUI:
    def stage(self, name):
        pass

    def done(self, name, summary):
        pass
