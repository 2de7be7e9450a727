"""Hostile inputs: mutated models end in a clean ModelError or in C that compiles and runs clean.

A few hundred seeded structure-aware and byte-level mutations of small models (and of the
KWS / AD01 fixtures when present) run in process; a sample of the accepted ones is compiled
with -Werror and run under ASan/UBSan. Crashing cases saved by ``bench/fuzz.py`` in
``fuzz_corpus/`` are replayed as regression tests.
"""
from __future__ import annotations

import json

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import FIXTURES, fixture_path
from tinyml_prune.codegen import fuzz

from .test_validate import small_model

CASES = 300
COMPILED = 24  # accepted cases built and run under the sanitizers
SEED = 20240601
CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"


def _seeds(with_fixtures: bool = True) -> dict[str, bytes]:
    seeds = {"small0": small_model(0), "small1": small_model(1)}
    for name in ("kws_ref_model", "ad01_int8"):
        p = FIXTURES / f"{name}.tflite"
        if with_fixtures and p.exists():
            seeds[name] = p.read_bytes()
    return seeds


def _report(failures) -> str:
    return "\n\n".join(f"{c.name} {list(c.mutations)}: {o.kind}\n{o.message}" for c, o in failures[:5])


def test_every_mutated_case_ends_cleanly():
    seeds = _seeds()
    kinds: dict[str, int] = {}
    failures = []
    for i in range(CASES):
        case = fuzz.make_case(seeds, SEED, i)
        outcome = fuzz.run_case(case.data, limit_s=10)
        kinds[outcome.kind] = kinds.get(outcome.kind, 0) + 1
        if outcome.crashed:
            failures.append((case, outcome))
    assert not failures, f"{len(failures)} of {CASES} cases crashed:\n{_report(failures)}"
    # The mutator reaches both sides: rejections of several kinds and accepted programs.
    assert kinds.get("accepted", 0) >= 10, kinds
    assert len([k for k in kinds if k.startswith("rejected:")]) >= 10, kinds


def test_accepted_cases_compile_and_run_under_sanitizers(tmp_path):
    seeds = _seeds(with_fixtures=False)  # small models: a build takes about a second
    accepted = []
    for i in range(CASES * 4):
        case = fuzz.make_case(seeds, SEED + 1, i)
        if case.mutations and fuzz.run_case(case.data, limit_s=10).kind == "accepted":
            accepted.append(case)
            if len(accepted) == COMPILED:
                break
    assert len(accepted) == COMPILED
    # gcc runs in subprocesses: build a few at a time.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        errors = list(pool.map(lambda c: fuzz.compile_and_run(c.data, tmp_path / c.name.replace("#", "-")), accepted))
    failures = [f"{c.name} {list(c.mutations)}:\n{e}" for c, e in zip(accepted, errors) if e is not None]
    assert not failures, "\n\n".join(failures[:3])


def test_mutations_are_deterministic():
    seeds = _seeds(with_fixtures=False)
    assert [fuzz.make_case(seeds, 3, i).data for i in range(20)] == [fuzz.make_case(seeds, 3, i).data
                                                                      for i in range(20)]


def _corpus_seeds() -> dict[str, bytes]:
    """The models the stored cases were made from: ours rebuilt here, the fixtures read in place."""
    seeds = {"small_convnet": small_model(0)}
    for p in sorted(FIXTURES.glob("*.tflite")):
        seeds[p.name] = p.read_bytes()
    return seeds


def test_corpus_seeds_are_valid_and_cases_round_trip(tmp_path):
    seeds = _corpus_seeds()
    assert fuzz.run_case(seeds["small_convnet"]).kind == "accepted"
    case = fuzz.make_case({"small_convnet": seeds["small_convnet"]}, SEED, 7)
    path = fuzz.save_case(case, {"small_convnet": seeds["small_convnet"]}, "test", "round trip", tmp_path)
    assert fuzz.load_case(path, seeds) == case.data


@pytest.mark.parametrize("path", fuzz.corpus_files(CORPUS), ids=lambda p: p.name)
def test_corpus_case_does_not_crash(path, tmp_path):
    seeds = _corpus_seeds()
    if json.loads(path.read_text())["seed"] not in seeds:
        fixture_path(json.loads(path.read_text())["seed"])  # skips (fails under CI) without ../shared
    data = fuzz.load_case(path, seeds)
    outcome = fuzz.run_case(data, limit_s=10)
    assert not outcome.crashed, f"{path.name}: {outcome.kind}\n{outcome.message}"
    if outcome.kind == "accepted":
        error = fuzz.compile_and_run(data, tmp_path)
        assert error is None, f"{path.name}: {error}"
