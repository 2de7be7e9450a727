"""`tinyml deploy` as a list of stages: the runner, without training or a board."""
import json

import pytest

from tinyml_prune.errors import TinymlError
from tinyml_prune.harness.deploy import PIPELINE, STAGES, Stage, StageInputs, run_stages


class Recorder:
    def __init__(self):
        self.calls = []

    def stage(self, name):
        self.calls.append(("stage", name))

    def done(self, name, summary):
        self.calls.append(("done", name, summary))


class Produce(Stage):
    def __init__(self, name, uses=None, fail=False):
        self.name, self.uses, self.fail = name, uses, fail
        self.prepared = False

    def before(self, inputs):
        self.prepared = True

    def run(self, inputs):
        if self.fail:
            raise TinymlError(f"{self.name} broke")
        got = inputs.artifacts[self.uses] if self.uses else None
        return f"{self.name}({got})", {"artifact": f"{self.name}.bin"}


def _inputs(tmp_path, ui):
    return StageInputs(model_path=None, out=tmp_path, cfg=None, board_config=None, ds=None, ui=ui)


def test_the_pipeline_is_the_six_stages_in_order():
    assert STAGES == ("train", "prune", "quantize", "codegen", "build", "profile")
    assert [s.name for s in PIPELINE] == list(STAGES)


def test_each_stage_gets_the_earlier_artifacts_and_deploy_json_records_it(tmp_path):
    ui = Recorder()
    stages = [Produce("a"), Produce("b", uses="a"), Produce("c", uses="b")]
    log = {"stages": {}}
    result = run_stages(stages, _inputs(tmp_path, ui), log)
    assert result == "c(b(a(None)))"
    assert all(s.prepared for s in stages)
    assert [c[:2] for c in ui.calls] == [("stage", "a"), ("done", "a"), ("stage", "b"), ("done", "b"),
                                         ("stage", "c"), ("done", "c")]
    written = json.loads((tmp_path / "deploy.json").read_text())
    assert list(written["stages"]) == ["a", "b", "c"]
    assert written["stages"]["b"]["artifact"] == "b.bin" and written["stages"]["b"]["seconds"] >= 0
    assert "failed_stage" not in written


def test_a_failing_stage_is_recorded_and_stops_the_chain(tmp_path):
    ui = Recorder()
    later = Produce("c", uses="b")
    log = {"stages": {}}
    with pytest.raises(TinymlError, match="b broke"):
        run_stages([Produce("a"), Produce("b", fail=True), later], _inputs(tmp_path, ui), log)
    written = json.loads((tmp_path / "deploy.json").read_text())
    assert written["failed_stage"] == "b" and written["stages"]["b"]["error"] == "b broke"
    assert list(written["stages"]) == ["a", "b"] and not later.prepared
    assert ("done", "b") not in [c[:2] for c in ui.calls]
