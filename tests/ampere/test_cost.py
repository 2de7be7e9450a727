"""The GPU cost model: launch floor, batch, parts, calibration data."""
import pytest

from tinyml_prune.ampere import cost
from tinyml_prune.errors import TinymlError


def test_parts_have_their_datasheet_shape():
    assert set(cost.PARTS) == {"a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm", "h200-sxm"}
    for key, p in cost.PARTS.items():
        assert p.key == key and p.int8_sparse_tops == 2 * p.int8_dense_tops
        assert p.sources and all("NVIDIA" in s for s in p.sources) and p.launch_us > 0
        # The per-tensor-core rate is a whole number of int8 MACs per clock (the datasheets' peaks).
        assert p.macs_per_clock_per_tc(False) == pytest.approx(round(p.macs_per_clock_per_tc(False)), rel=1e-3)
    assert cost.PARTS["h200-sxm"].launch_us == 4.24 and "measured" in cost.PARTS["h200-sxm"].launch_source
    assert "not measured" in cost.PARTS["a100-sxm4-40gb"].launch_source
    assert cost.PARTS["a100-sxm4-80gb"].hbm_gb_per_s > cost.PARTS["a100-sxm4-40gb"].hbm_gb_per_s
    with pytest.raises(TinymlError, match="unknown GPU part 'v100'.*h200-sxm"):
        cost.part("v100")


def test_every_kernel_pays_the_launch_floor():
    spec = cost.part("h200-sxm")
    t = cost.gemm_time(spec, 64, 64, 125, 64 * 64, 64 * 125 * 2, sparse=False)
    assert t["seconds"] == pytest.approx(t["launch_s"] + max(t["compute_s"], t["memory_s"]))
    assert t["launch_s"] == pytest.approx(4.24e-6)
    assert cost.memory_time(spec, 0) == pytest.approx(4.24e-6)
    # A small layer is all launch: no modeled speed-up, as measured (1.00x-1.11x on the H200).
    assert cost.speedup(spec, 128, 640, 1, 640 + 128) < 1.02


def test_batch_and_size_decide_where_2to4_pays():
    spec = cost.part("h200-sxm")
    # KWS's 64-channel pointwise conv is HBM-bound at every batch: 2:4 saves only weight bytes.
    assert cost.pays_from_batch(spec, 64, 64, 125, 64 * 125 * 2) is None
    # A 4096x4096 FC is weight-bound at batch 1: the 5/8 weight bytes pay at once.
    assert cost.pays_from_batch(spec, 4096, 4096, 1, 4096 * 2) == 1
    # Large enough squares become compute-bound and approach the 2x of the datasheet.
    assert 1.9 < cost.speedup(spec, 16384, 16384, 16384, 16384 * 16384 * 5) <= 2.0
    assert cost.sparse_weight_bytes(64, 64) == 64 * 32 + 64 * 2 * 4
    assert cost.sparse_weight_bytes(12, 40) == 12 * 32 + 12 * 2 * 4         # K padded to 64


def test_calibration_keeps_the_measurements_and_their_source():
    cal = cost.calibration()
    assert "measured on an NVIDIA H200" in cal["source"] and "warp-per-tile" in cal["source"]
    shapes = {(r["m"], r["k"], r["n"]): (r["dense_us"], r["sparse_us"]) for r in cal["layers"]}
    assert shapes == {(64, 64, 125): (5.20, 4.68), (128, 640, 1): (4.93, 4.92), (128, 128, 36): (7.69, 5.39)}
    for r in cal["layers"]:
        # The modeled floor is at or below every measurement: the model is a lower bound.
        assert cal["launch_us"] <= r["modeled_dense_us"] <= r["dense_us"]
        assert cal["launch_us"] <= r["modeled_sparse_us"] <= r["sparse_us"]
    assert [c["speedup"] for c in cal["cusparselt"]] == [0.52, 1.71, 1.68]
