"""Per-layer profiling on qemu-m4: exact per-layer instruction counts of the generated model,
the Ampere side by side with board-measured per-layer 2:4 speed-ups, auto's predictions."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fixture_path, shared_artifact
from tinyml_prune.errors import BoardError

pytestmark = pytest.mark.qemu

CALL_SITE = 1  # `bl tp_mark_layer`: what one mark costs once the plugin leaves the marker's body out


def _needs_toolchain():
    missing = [t for t in ("arm-none-eabi-gcc", "arm-none-eabi-objdump", "qemu-system-arm", "make")
               if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make setup installs them)")


def _digits_2to4(keras_path):  # the same artifact as tests/ampere (shared by name)
    def build(path):
        from tinyml_prune import data
        from tinyml_prune.ampere.prune import prune_keras_2to4
        from tinyml_prune.modelio import load_model
        from tinyml_prune.quantize import convert_ptq

        ds = data.load_digits()
        model = load_model(keras_path)
        prune_keras_2to4(model)
        path.write_bytes(convert_ptq(model, ds.calibration(200)))

    return build


@pytest.fixture(scope="module")
def digits_2to4(tmp_path_factory, digits_cnn_path):
    return shared_artifact(tmp_path_factory, "digits_cnn_2to4.tflite", _digits_2to4(digits_cnn_path))


def _board():
    from tinyml_prune.boards import load, make_board

    return make_board(load("qemu-m4"), exact=True)


@pytest.fixture(scope="module")
def profiled(tmp_path_factory, digits_2to4):
    """`tinyml profile DIR --per-layer` on the dense digits 2:4 model (3 test images)."""
    from tinyml_prune.codegen import CodegenOptions, generate
    from tinyml_prune.harness.profile import ProfileConfig, profile

    _needs_toolchain()
    root = tmp_path_factory.mktemp("lp") / "gen"
    generate(digits_2to4.read_bytes(), root, CodegenOptions(format="dense"))
    shutil.copyfile(digits_2to4, root / "model.tflite")
    board = _board()
    board.build(root)
    report = profile(root, board, ProfileConfig(n=3, data="digits", per_layer=True, layer_runs=3))
    return root, report


def test_layers_sum_exactly_to_the_whole_inference(profiled):
    root, r = profiled
    lp = r["layer_profile"]
    n_layers = len(r["layers"])
    assert lp["counter"] == "qemu-tcg-plugin" and lp["n"] == 3 and lp["bit_exact"] is True
    # One mark costs exactly its call site; the calibration pair measures it on every run.
    assert lp["marker_overhead"] == CALL_SITE
    # Per inference, the layers add up to the normal build's exact whole-inference count, plus one
    # instruction for each status check GCC relaxed out of cbz/cbnz range in the longer build...
    assert lp["sum_minus_whole"] == [_relaxations(root)] * 3
    # ...and the profiling build ran exactly n_layers call sites more.
    # ...and the profiling build ran exactly one mark more per layer but the last.
    for run, total in zip(lp["runs"], lp["profiling_build_totals"]):
        assert total - sum(run) == CALL_SITE * (n_layers - 1)
    assert sum(row["instructions"] for row in r["layers"]) in [sum(run) for run in lp["runs"]]


def _model_run_code(elf):
    """The layer sequence's instructions (tp_model_invoke, or tp_model_run when the model's I/O is
    outside the arena), without addresses, literal-pool offsets and data words."""
    import re

    dis = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    fn = "tp_model_invoke" if "<tp_model_invoke>:" in dis else "tp_model_run"
    body = dis.split(f"<{fn}>:")[1].split("\n\n")[0].splitlines()
    out = []
    for line in body:
        insn = line.split("\t", 1)[-1].split("@")[0].strip()
        if not insn or insn.startswith(".word") or insn.startswith(".short"):
            continue
        insn = re.sub(r"\[pc, #-?\d+\]", "[pc]", insn)
        insn = re.sub(r"\b[0-9a-f]+ <", "<", insn)
        insn = re.sub(r"<tp_model_(run|invoke)\+0x[0-9a-f]+>", "<local>", insn)
        out.append(insn)
    return out, dis


def _relaxed(insns):
    """cbz/cbnz written as the cmp + conditional branch they relax to; branch width suffixes and
    alignment nops dropped."""
    import re

    out = []
    for i in insns:
        if i == "nop":  # alignment padding, never executed on the way through
            continue
        m = re.match(r"cb(n?)z\t(r\d+), (.*)", i)
        if m:
            out += [f"cmp\t{m.group(2)}, #0", f"b{'ne' if m.group(1) else 'eq'}\t{m.group(3)}"]
        else:
            out.append(re.sub(r"^(b[a-z]*)\.[nw]\t", r"\1\t", i))
    return out


def _relaxations(root) -> int:
    """How many status checks GCC relaxed from cbz/cbnz in the profiling build (each executes once
    per inference, one instruction more)."""
    normal, _ = _model_run_code(root / "build" / "firmware.elf")
    layers, _ = _model_run_code(root / "build-layers" / "firmware.elf")
    count = lambda code: sum(1 for i in code if i.startswith(("cbz", "cbnz")))  # noqa: E731
    return count(normal) - count(layers)


def test_the_profiling_build_differs_only_by_the_marks(profiled):
    """tp_model_run compiles to the same instructions plus one `bl tp_mark_layer` per layer but the last."""
    from tinyml_prune.boards.insn_count import LAYER_SYMBOL, symbol

    root, r = profiled
    with pytest.raises(BoardError, match="tp_mark_layer"):  # the normal ELF has no marker at all
        symbol(root / "build" / "firmware.elf", LAYER_SYMBOL)
    normal, _ = _model_run_code(root / "build" / "firmware.elf")
    layers, dis = _model_run_code(root / "build-layers" / "firmware.elf")
    marks = [i for i in layers if i.endswith("<tp_mark_layer>")]
    # every layer but the last (the runtime marks tp_model_run's return)
    assert len(marks) == len(r["layers"]) - 1 and all(m.startswith("bl") for m in marks)
    # The same code, except where the longer profiling build pushed a status check's target out
    # of cbz/cbnz range and GCC relaxed it to cmp + b (one instruction more, counted below).
    assert _relaxed([i for i in layers if not i.endswith("<tp_mark_layer>")]) == _relaxed(normal)
    # the marker saves what it uses and calls nothing: the plugin may leave all of its body out
    marker = dis.split("<tp_mark_layer>:")[1].split("\n\n")[0]
    assert "push\t{r0, r1, r2, r3}" in marker and "\tbl\t" not in marker


def test_per_layer_counts_are_deterministic(profiled):
    from tinyml_prune.harness.layers import measure_layers
    from tinyml_prune.harness.profile import ProfileConfig, make_inputs
    from tinyml_prune.verify import reference_run

    root, r = profiled
    tfl = (root / "model.tflite").read_bytes()
    x, _ = make_inputs(tfl, ProfileConfig(n=3, data="digits"))
    again = measure_layers(root, _board(), x, reference_run(tfl, x)[0])
    assert again.runs == r["layer_profile"]["runs"]
    assert again.bit_exact is True


def test_firmware_timestamps_agree_with_the_exact_counts(profiled):
    """The generic (real-board) path, seen on QEMU: SysTick under -icount is 40 instructions a tick."""
    _, r = profiled
    lp = r["layer_profile"]
    for exact, timer in zip(lp["runs"], lp["timer_runs"]):
        assert timer[-1] is None  # on QEMU the runtime leaves the last layer to the exact counter
        for e, t in zip(exact[:-1], timer[:-1]):
            # one tick of quantization at each end, plus the marker body the timer sees
            assert abs(e - t) <= 2 * 40 + 16


def test_report_has_the_layer_table_and_the_measured_ampere_column(profiled):
    root, r = profiled
    rows = r["layers"]
    manifest = json.loads((root / "manifest.json").read_text())
    assert [row["op"] for row in rows] == [layer["op"] for layer in manifest["layers"]]
    for row, layer in zip(rows, manifest["layers"]):
        assert set(row) >= {"index", "op", "name", "format", "instructions", "macs", "instructions_per_mac"}
        assert row["macs"] == layer["macs"] and row["format"] == "dense"
        if row["macs"]:
            assert row["instructions_per_mac"] == round(row["instructions"] / row["macs"], 3)
    md = (root / "report.md").read_text()
    assert "### Per layer (instructions, qemu-tcg-plugin" in md
    amp = r["ampere_2to4"]
    assert "qemu-m4" in amp["board_measured"] and "bit-exact: yes" in amp["board_measured"]
    by_index = {row["index"]: row for row in amp["layers"]}
    counts = r["ampere_board_counts"]
    for idx, row in by_index.items():
        b = row["board"]
        assert b is not None and b["dense"] == counts[str(idx)]["dense"]
        if row["status"] == "2:4":
            assert counts[str(idx)]["format"] == "nm"
        else:  # the Cin=1 stem: dense in both builds, the same instructions
            assert counts[str(idx)]["format"] == "dense" and b["speedup"] == 1.0
    # the dense variant's layers are this directory's layers (same code, same inputs)
    dense_here = {row["index"]: row["instructions"] for row in rows}
    assert all(counts[str(i)]["dense"] == dense_here[i] for i in by_index)
    table = md.split("Emulated Ampere 2:4 path")[1]
    measured_cells = [line.split("|")[-3].strip() for line in table.splitlines() if line.startswith("| 2 |")
                      or line.startswith("| 5 |")]
    assert len(measured_cells) == 2 and all(c.endswith("×") for c in measured_cells)
    assert (root / "ampere_speedup.png").stat().st_size > 0
    assert (root / "build" / "firmware.elf").exists()  # the normal ELF is still there


def test_auto_build_prints_predicted_vs_measured(tmp_path, digits_2to4):
    from tinyml_prune.codegen import CodegenOptions, generate
    from tinyml_prune.harness.layers import build_layers, layer_rows, layers_markdown, measure_layers

    _needs_toolchain()
    root = tmp_path / "auto"
    res = generate(digits_2to4.read_bytes(), root, CodegenOptions(format="auto"))
    board = _board()
    build_layers(root, board, "-O2", "auto")
    assert not (root / "build").exists()  # only the profiling variant was built
    x = np.random.default_rng(0).integers(-128, 128, (1, 8, 8, 1), dtype=np.int8)
    prof = measure_layers(root, board, x)
    rows = layer_rows(res.manifest, prof)
    gemm = [row for row in rows if row["op"] in ("CONV_2D", "FULLY_CONNECTED")]
    assert gemm and all(row["predicted"] > 0 for row in gemm)
    assert all("predicted" not in row for row in rows if row not in gemm)
    md = layers_markdown(rows, prof.as_dict())
    assert "auto predicted" in md and "measured / predicted" in md


def test_a_normal_build_is_not_a_layer_profile(profiled):
    from tinyml_prune.harness.layers import measure_layers

    root, _ = profiled
    x = np.zeros((1, 8, 8, 1), np.int8)
    with pytest.raises(BoardError, match="not a per-layer profiling build"):
        measure_layers(root, _board(), x, elf=root / "build" / "firmware.elf")


def test_normal_firmware_rejects_the_layers_command(profiled):
    from tinyml_prune.harness.protocol import Client, ProtocolError

    root, _ = profiled
    board = _board()
    board.flash(root / "build" / "firmware.elf")
    try:
        board.open()
        with pytest.raises(ProtocolError, match="unknown command"):
            Client(board, timeout=20).layers()
    finally:
        board.close()


# -- splitting marks into layers (pure) -------------------------------------------------------

def test_split_exact_rejects_a_wrong_number_of_marks():
    from tinyml_prune.harness.layers import split_exact

    with pytest.raises(BoardError, match="expected 4 layer marks"):
        split_exact([0, 2, 5, 10, 12], 20, 2)


@settings(max_examples=200, deadline=None)
@given(layers=st.lists(st.integers(0, 5_000_000), min_size=1, max_size=40),
       overhead=st.integers(0, 60), start=st.integers(0, (1 << 24) - 1), gap=st.integers(0, 1000))
def test_split_ticks_recovers_layers_through_counter_wraps(layers, overhead, start, gap):
    """A 24-bit SysTick up-count: the layer durations come back whatever wraps in between."""
    from tinyml_prune.harness.layers import split_ticks

    mod = 1 << 24
    t = [start, start + overhead, start + overhead + gap]
    for d in layers:
        t.append(t[-1] + d + overhead)
    got, oh = split_ticks([v % mod for v in t], 24, len(layers))
    assert oh == overhead
    assert got == [d % mod for d in layers]  # a layer longer than one wrap cannot be told apart
    assert split_ticks([v % mod for v in t], 24, len(layers), last_marked=False)[0][-1] is None


@settings(max_examples=200, deadline=None)
@given(layers=st.lists(st.integers(0, 10_000_000), min_size=1, max_size=40), tail=st.integers(0, 50),
       before=st.integers(0, 10**9))
def test_split_exact_subtracts_one_call_site_per_layer(layers, tail, before):
    from tinyml_prune.harness.layers import split_exact

    marks = [before, before + CALL_SITE, before + 2 * CALL_SITE]  # relative to the previous run's begin
    at = 0
    for d in layers[:-1]:
        at += d + CALL_SITE
        marks.append(at)
    total = at + layers[-1] + tail  # the last layer runs to tp_mark_end, unmarked
    got, oh = split_exact(marks, total, len(layers))
    assert oh == CALL_SITE
    assert got[:-1] == layers[:-1] and got[-1] == layers[-1] + tail
    assert sum(got) == total - CALL_SITE * (len(layers) - 1)


# -- CLI ----------------------------------------------------------------------------------------

def _cli(args, capsys):
    from tinyml_prune.cli import main

    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_profile_per_layer_on_an_unbuilt_dir(tmp_path, capsys, digits_2to4):
    from tinyml_prune.codegen import generate

    generate(digits_2to4.read_bytes(), tmp_path / "gen")
    code, _, err = _cli(["profile", str(tmp_path / "gen"), "--per-layer", "--board", "qemu-m4"], capsys)
    assert code == 2 and err.startswith("error: ") and "tinyml build" in err and "Traceback" not in err


def test_cli_ampere_board_errors(tmp_path, capsys, digits_2to4):
    code, _, err = _cli(["ampere", str(digits_2to4), "--board", "no-such-board"], capsys)
    assert code == 2 and err.startswith("error: ") and "no-such-board" in err and "Traceback" not in err
    counts = tmp_path / "c.json"
    counts.write_text("{}")
    code, _, err = _cli(["ampere", str(digits_2to4), "--board", "qemu-m4", "--board-counts", str(counts)], capsys)
    assert code == 2 and "either --board-counts or --board" in err


def test_cli_ampere_board_without_2to4_layers(capsys):
    code, out, err = _cli(["ampere", str(fixture_path("kws_ref_model.tflite")), "--board", "qemu-m4",
                           "--samples", "1"], capsys)
    assert code == 0 and "no layer of this model is 2:4" in err
    assert "Ampere modeled only" in out
