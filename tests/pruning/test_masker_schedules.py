"""Invariants of the masker, the schedules and the recipe config (no training needed)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyml_prune.kerasenv import keras
from tinyml_prune.pruning.config import RecipeError, config_from_dict, load_recipe
from tinyml_prune.pruning.masker import Masker
from tinyml_prune.pruning.schedules import Iterative, OneShot, PolynomialDecay, schedule_from_dict


def _dense(cin, cout):
    layer = keras.layers.Dense(cout)
    layer.build((None, cin))
    return layer


def _conv(cin, cout, k=3):
    layer = keras.layers.Conv2D(cout, k)
    layer.build((None, 8, 8, cin))
    return layer


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 7), extra=st.integers(1, 4), groups=st.integers(1, 6), cout=st.integers(1, 9),
       seed=st.integers(0, 1000), conv=st.booleans())
def test_every_nm_group_has_at_most_n_nonzeros(n, extra, groups, cout, seed, conv):
    m = n + extra
    layer = _conv(m * groups, cout) if conv else _dense(m * groups, cout)
    w = np.random.default_rng(seed).standard_normal(layer.kernel.shape)
    mask = Masker.n_of_m(n, m).masks({"l": (layer, np.abs(w))}, 1.0)["l"]
    axis = w.ndim - 2  # input channels: Conv2D axis 2, Dense axis 0
    blocks = np.moveaxis(mask, axis, -1).reshape(-1, m)
    assert (blocks.sum(axis=1) == n).all()  # exactly N kept: the N largest of each group
    kept = np.moveaxis(np.abs(w) * mask, axis, -1).reshape(-1, m)
    dropped = np.moveaxis(np.abs(w) * (1 - mask), axis, -1).reshape(-1, m)
    assert (kept.max(axis=1) >= dropped.max(axis=1)).all()


@settings(max_examples=30, deadline=None)
@given(cin=st.integers(10, 64), cout=st.integers(10, 40), s=st.floats(0.0, 0.97), seed=st.integers(0, 99),
       glob=st.booleans())
def test_unstructured_sparsity_within_half_a_point(cin, cout, s, seed, glob):
    rng = np.random.default_rng(seed)
    a, b = _dense(cin, cout), _conv(3, cout)
    scores = {"a": (a, np.abs(rng.standard_normal(a.kernel.shape))),
              "b": (b, np.abs(rng.standard_normal(b.kernel.shape)))}
    masks = Masker.unstructured().masks(scores, s, global_=glob)
    if glob:
        total = sum(m.size for m in masks.values())
        zeros = sum((m == 0).sum() for m in masks.values())
        assert abs(zeros / total - s) <= 0.005
    else:
        for m in masks.values():
            assert abs((m == 0).mean() - s) <= 0.005


def test_nm_impossible_layers_are_named():
    assert "1 < M=4" in Masker.n_of_m(2, 4).impossible(_conv(1, 8))
    assert "not divisible" in Masker.n_of_m(2, 4).impossible(_dense(10, 3))
    assert Masker.n_of_m(2, 4).impossible(_dense(12, 3)) is None


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["oneshot", "iterative", "gradual"]), s=st.floats(0.05, 0.95),
       a=st.integers(0, 50), b=st.integers(1, 200), k=st.integers(1, 5), freq=st.integers(1, 20))
def test_schedules_round_trip(kind, s, a, b, k, freq):
    sch = {"oneshot": OneShot(s), "iterative": Iterative.linear(s, k, b),
           "gradual": PolynomialDecay(0.0, s, a, a + b, 3.0, freq)}[kind]
    back = schedule_from_dict(sch.to_dict())
    assert back == sch
    assert [back(t) for t in range(0, a + b + 5)] == [sch(t) for t in range(0, a + b + 5)]


def test_polynomial_decay_matches_zhu_gupta():
    sch = PolynomialDecay(0.0, 0.8, 0, 100, 3.0, 10)
    assert sch(0) == (True, 0.0)
    assert sch(5)[0] is False
    assert sch(100) == (True, pytest.approx(0.8))
    assert sch(50)[1] == pytest.approx(0.8 * (1 - 0.5 ** 3))


def test_iterative_rounds():
    sch = Iterative((0.3, 0.5), 10)
    assert [t for t in range(40) if sch(t)[0]] == [0, 10]
    assert sch(0)[1] == 0.3 and sch(10)[1] == 0.5 and sch(25)[1] == 0.5


def test_recipe_overrides_and_errors(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text('granularity = "nm"\nnm = "1:4"\ncriterion = "hessian"\n[criterion_options]\nmax_samples = 8\n'
                 '[schedule]\nkind = "gradual"\n[layers.fc]\nsparsity = 0.8\n')
    c = load_recipe(p, criterion="l2", finetune={"epochs": 3})
    assert (c.granularity, c.nm, c.criterion, c.schedule.kind, c.finetune.epochs) == ("nm", (1, 4), "l2", "gradual", 3)
    assert c.for_layer("fc").sparsity == 0.8 and c.for_layer("conv1").sparsity == 0.5
    assert config_from_dict(c.to_dict()) == c
    p.write_text('sparsity = 0.5\nbogus = 1\n')
    with pytest.raises(RecipeError, match="bogus"):
        load_recipe(p)
    with pytest.raises(RecipeError, match="3:2"):
        config_from_dict({"nm": "3:2"})


def test_global_scope_refuses_per_layer_targets():
    with pytest.raises(RecipeError, match="global"):
        config_from_dict({"scope": "global", "layers": {"fc": {"sparsity": 0.9}}})
