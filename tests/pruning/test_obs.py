"""Layer-wise OBS: the closed-form update is the least-squares solution, masks have the asked
granularity, reconstruction never loses to masking alone; Keras glue, channels, distillation."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyml_prune.kerasenv import keras, tf
from tinyml_prune.pruning.obs.core import (Pattern, allocate, damp, exact_refit, inverse, obs_remove,
                                           prune_matrix, quad_error)


def _layer(seed, n, d, k, correlated=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if correlated and d > 2:
        X[:, 1] = 0.9 * X[:, 0] + 0.1 * X[:, 1]
    return X, rng.standard_normal((d, k))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(3, 20), frac=st.floats(0.1, 0.9))
def test_obs_update_equals_least_squares(seed, d, frac):
    X, W = _layer(seed, 3 * d + 5, d, 1)
    w = W[:, 0]
    rng = np.random.default_rng(seed + 1)
    P = np.sort(rng.choice(d, max(1, int(frac * d)), replace=False))
    K = np.setdiff1d(np.arange(d), P)
    H = X.T @ X
    Hd, _ = damp(H, 0.0)
    sol = np.zeros(d)
    if K.size:
        sol[K] = np.linalg.lstsq(X[:, K], X @ w, rcond=None)[0]
    np.testing.assert_allclose(obs_remove(w, inverse(Hd), P), sol, atol=1e-8 * max(1, np.abs(sol).max()))
    pruned = np.zeros(d, bool)
    pruned[P] = True
    np.testing.assert_allclose(exact_refit(w, Hd, inverse(Hd), pruned), sol, atol=1e-8 * max(1, np.abs(sol).max()))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), groups=st.integers(1, 8), k=st.integers(1, 6),
       nm=st.sampled_from([(1, 2), (2, 4), (1, 4), (3, 4), (2, 8)]), bias=st.booleans())
def test_nm_masks_and_error(seed, groups, k, nm, bias):
    n, m = nm
    d = groups * m
    X, W = _layer(seed, 4 * d + 8, d + int(bias), k)
    if bias:
        X[:, -1] = 1.0
    protect = np.zeros(d + int(bias), bool)
    protect[d:] = True
    H = X.T @ X
    r = prune_matrix(W, H, Pattern.n_of_m(n, m), protect, block=2 * m)
    zeros = r.pruned[:d].reshape(groups, m, k).sum(axis=1)
    assert (zeros == m - n).all()
    assert not r.pruned[d:].any()
    assert (r.W[r.pruned] == 0).all()
    assert r.error <= r.mask_error * (1 + 1e-9) + 1e-9
    assert abs(r.error - quad_error(H, W - r.W).sum()) <= 1e-6 * max(1.0, r.error)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 40), k=st.integers(1, 6), s=st.floats(0.0, 0.95))
def test_unstructured_exact_count_and_never_worse_than_masking(seed, d, k, s):
    X, W = _layer(seed, 2 * d + 3, d, k)
    X[:, 0] = 0.0  # a dead input
    H = X.T @ X
    zeros = int(round(s * d * k))
    r = prune_matrix(W, H, Pattern.unstructured(zeros), block=8)
    assert r.pruned.sum() == zeros
    assert r.error <= r.mask_error * (1 + 1e-9) + 1e-9
    if zeros >= k:  # dead inputs cost nothing: they are pruned first
        assert r.pruned[0].all()


def test_allocate_meets_target_and_prefers_cheap_layers():
    grid = np.array([0.0, 0.25, 0.5, 0.75])
    curves = {"cheap": (grid, grid * 0.01), "dear": (grid, grid * 1.0)}
    lv = allocate(curves, {"cheap": 100, "dear": 100}, 0.5)
    assert abs(lv["cheap"] * 100 + lv["dear"] * 100 - 100) < 1e-6
    assert lv["cheap"] == 0.75 and lv["dear"] == pytest.approx(0.25)


# -- Keras ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: keras.layers.Conv2D(6, 3, padding="same"),
    lambda: keras.layers.Conv2D(5, 3, strides=2, padding="valid", use_bias=False),
    lambda: keras.layers.Conv2D(4, 3, strides=2, padding="same", dilation_rate=1),
    lambda: keras.layers.Conv2D(4, 2, dilation_rate=2, padding="same"),
    lambda: keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
    lambda: keras.layers.Dense(7),
])
def test_patches_reproduce_the_layer(make):
    from tinyml_prune.pruning.obs.calib import kernel_matrix, patches

    layer = make()
    x = np.random.default_rng(0).standard_normal((3, 9, 9, 4)).astype(np.float32)
    y = layer(x).numpy()
    p = patches(layer, x).astype(np.float64)
    K = kernel_matrix(layer).astype(np.float64)
    b = layer.bias.numpy() if layer.bias is not None else 0.0
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        out = np.einsum("rtc,tcm->rcm", p, K).reshape(len(p), -1)
    else:
        out = p @ K
    np.testing.assert_allclose(out + b, y.reshape(len(out), -1), atol=1e-4)


def _small_model():
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="c1")(inp)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.ReLU()(h)
    r = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(h)
    h = keras.layers.Add()([h, keras.layers.Conv2D(8, 3, padding="same", name="c3")(r)])
    h = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(h)
    h = keras.layers.Conv2D(16, 1, activation="relu", name="pw")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(4, activation="softmax", name="fc")(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).standard_normal((128, 8, 8, 3)).astype(np.float32)
    model(x[:2])
    # give BN non-trivial statistics
    bn = model.get_layer("bn1")
    bn.moving_mean.assign(np.full(8, 0.1, np.float32))
    bn.moving_variance.assign(np.full(8, 2.0, np.float32))
    return model, x


@pytest.fixture(scope="module")
def small():
    return _small_model()


def test_obs_unstructured_exact_sparsity_and_errors(small):
    from tinyml_prune.pruning import prune
    from tinyml_prune.pruning.config import PruneConfig

    model, x = small
    pruned, report = prune(model, PruneConfig(criterion="obs", sparsity=0.5, include_depthwise=True), (x, None))
    rec = report.metrics["reconstruction"]
    for name in ("c1", "c2", "c3", "dw", "pw", "fc"):
        k = pruned.get_layer(name).get_weights()[0]
        assert abs((k == 0).mean() - 0.5) <= 0.5 / k.size + 1e-9, name
        assert rec[name]["rel_error"] <= rec[name]["rel_error_mask_only"] + 1e-6, name
    # the input model is untouched
    assert (model.get_layer("c1").get_weights()[0] != 0).all()


def test_obs_nm_respects_groups_and_global_hits_total(small):
    from tinyml_prune.pruning import prune
    from tinyml_prune.pruning.config import PruneConfig
    from tinyml_prune.pruning.layers import prunable_layers

    model, x = small
    pruned, report = prune(model, PruneConfig(criterion="obs", granularity="nm", nm=(2, 4)), (x, None))
    for name in ("c2", "c3", "pw", "fc"):
        k = pruned.get_layer(name).get_weights()[0]
        groups = np.moveaxis(k, k.ndim - 2, -1).reshape(-1, 4)
        assert ((groups != 0).sum(axis=1) <= 2).all(), name
    pruned, report = prune(model, PruneConfig(criterion="obs", sparsity=0.6, scope="global"), (x, None))
    ks = [l.get_weights()[0] for l in prunable_layers(pruned) if l.name != "dw"]
    total = sum(k.size for k in ks)
    assert abs(sum((k == 0).sum() for k in ks) - 0.6 * total) <= len(ks)


def test_obs_channels_refit_beats_slicing(small):
    from tinyml_prune.pruning import prune
    from tinyml_prune.pruning.config import PruneConfig

    model, x = small
    slim, report = prune(model, PruneConfig(criterion="obs", granularity="channel", sparsity=0.5), (x, None))
    assert slim.count_params() < model.count_params()
    rec = report.metrics["channel_report"]["config"]["reconstruction"]
    assert rec and all(r["rel_error"] <= r["rel_error_sliced"] + 1e-9 for r in rec.values())
    l1, _ = prune(model, PruneConfig(criterion="l1", granularity="channel", sparsity=0.5), (x, None))
    ref = model.predict(x, verbose=0)
    assert np.mean((slim.predict(x, verbose=0) - ref) ** 2) < np.mean((l1.predict(x, verbose=0) - ref) ** 2)


def test_distillation_loss_is_scaled_kl():
    from tinyml_prune.pruning.distill import DistillationLoss

    rng = np.random.default_rng(0)
    zt, zs = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    ps = np.exp(zs) / np.exp(zs).sum(1, keepdims=True)
    T = 3.0
    y = np.concatenate([zt, np.zeros((5, 1))], 1).astype(np.float32)
    got = DistillationLoss(T, alpha=1.0)(y, ps.astype(np.float32)).numpy()
    def sm(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    pt, qs = sm(zt / T), sm(zs / T)
    want = (T * T * (pt * (np.log(pt) - np.log(qs))).sum(1)).mean()
    assert got == pytest.approx(want, rel=1e-4)


def test_distilled_finetune_runs_for_every_schedule(small):
    from tinyml_prune.pruning import prune
    from tinyml_prune.pruning.config import config_from_dict

    model, x = small
    for granularity, kind in (("unstructured", "gradual"), ("nm", "oneshot"), ("channel", "iterative")):
        cfg = config_from_dict({"criterion": "obs" if granularity != "unstructured" else "l1",
                                "granularity": granularity, "sparsity": 0.5,
                                "schedule": {"kind": kind}, "finetune": {"epochs": 1, "distill": "on"}})
        pruned, _ = prune(model, cfg, (x, None))
        assert np.isfinite(pruned.predict(x[:4], verbose=0)).all()


def test_cli_accepts_obs(tmp_path, capsys):
    import json

    from tinyml_prune import data, models
    from tinyml_prune.cli import main

    m = models.build("cnn", data.load_digits())
    src = tmp_path / "m.keras"
    m.save(src)
    for extra in (["--granularity", "nm"], ["--granularity", "channel"], ["--scope", "global"]):
        out = tmp_path / f"o{extra[-1]}.keras"
        assert main(["prune", str(src), "--criterion", "obs", *extra, "-o", str(out)]) == 0
        rep = json.loads((tmp_path / f"o{extra[-1]}.prune.json").read_text())
        assert rep["criterion"] == "obs"
        if extra[-1] != "channel":
            assert rep["metrics"]["reconstruction"]
    recipe = tmp_path / "r.toml"
    recipe.write_text('criterion = "obs"\ngranularity = "nm"\n[criterion_options]\nn_samples = 64\n'
                      '[finetune]\ndistill = "on"\n')
    assert main(["prune", str(src), "--recipe", str(recipe), "-o", str(tmp_path / "r.keras")]) == 0
