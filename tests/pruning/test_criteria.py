"""Second-order criteria: Hutchinson against the exact Hessian; CHITA against magnitude."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyml_prune.kerasenv import keras, tf
from tinyml_prune.pruning.criteria import make_context, make_criterion
from tinyml_prune.pruning.criteria.chita import ChitaProblem, iht
from tinyml_prune.pruning.criteria.hessian import hutchinson
from tinyml_prune.pruning.masker import Masker


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(0)
    inp = keras.Input((12,))
    h = keras.layers.Dense(8, activation="tanh", name="hidden")(inp)
    out = keras.layers.Dense(4, activation="softmax", name="out")(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).standard_normal((64, 12)).astype(np.float32)
    return model, make_context(model, x)


def _exact_trace(model, ctx, name):
    var = model.get_layer(name).kernel
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = ctx.mean_loss(ctx.y, model(ctx.x, training=False))
        g = tf.reshape(inner.gradient(loss, var), [-1])
    H = outer.jacobian(g, var).numpy().reshape(g.shape[0], -1)
    return float(np.trace(H))


@pytest.mark.parametrize("mode", ["forward_over_reverse", "reverse_over_reverse"])
def test_hutchinson_trace_within_5_percent_of_exact(small, mode):
    model, ctx = small
    layers = [model.get_layer("hidden")]
    res = hutchinson(model, layers, ctx.x, ctx.y, ctx.per_sample_loss, max_samples=200, min_samples=200,
                     mode=mode)
    exact = _exact_trace(model, ctx, "hidden")
    assert res.samples == 200
    assert abs(res.trace["hidden"] - exact) <= 0.05 * abs(exact)


def test_hutchinson_fp16_close_to_fp32(small):
    model, ctx = small
    layers = [model.get_layer("hidden"), model.get_layer("out")]
    a = hutchinson(model, layers, ctx.x, ctx.y, ctx.per_sample_loss, "float32", 8, 8)
    b = hutchinson(model, layers, ctx.x, ctx.y, ctx.per_sample_loss, "float16", 8, 8)
    for n in a.trace:
        assert abs(a.trace[n] - b.trace[n]) <= 0.02 * abs(a.trace[n])


def test_hutchinson_stops_at_tolerance(small):
    model, ctx = small
    res = hutchinson(model, [model.get_layer("out")], ctx.x, ctx.y, ctx.per_sample_loss,
                     max_samples=500, min_samples=4, tol=0.05)
    assert 4 <= res.samples < 500


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 40), p_in=st.integers(2, 6), p_out=st.integers(2, 6), s=st.floats(0.1, 0.9),
       ridge=st.floats(1e-4, 1.0), seed=st.integers(0, 10_000), nm=st.booleans())
def test_chita_never_worse_than_magnitude(n, p_in, p_out, s, ridge, seed, nm):
    rng = np.random.default_rng(seed)
    layer = keras.layers.Dense(p_out)
    layer.build((None, 4 * p_in))
    p = 4 * p_in * p_out
    A = rng.standard_normal((n, p)) / np.sqrt(n)
    w_bar = rng.standard_normal(p)
    lam = ridge * float((A * A).sum()) / p
    prob = ChitaProblem(A, w_bar, lam)
    masker = Masker.n_of_m(2, 4) if nm else Masker.unstructured()
    level = 1.0 if nm else s

    def project(w):
        m = masker.masks({"l": (layer, (w ** 2).reshape(layer.kernel.shape))}, level)["l"]
        return w * m.ravel()

    magnitude = prob.objective(project(w_bar))
    w, support, hist = iht(prob, project, max_iter=30)
    assert prob.objective(w) <= magnitude + 1e-9
    assert np.count_nonzero(w) <= np.count_nonzero(project(w_bar))
    assert all(b <= a + 1e-12 for a, b in zip(hist, hist[1:]))


def test_criteria_shapes_and_channel_sums(small):
    model, _ = small
    x = np.random.default_rng(1).standard_normal((32, 12)).astype(np.float32)
    layer = model.get_layer("hidden")
    for name in ("l1", "l2", "taylor", "hessian"):
        e = make_criterion(name, **({"max_samples": 4} if name == "hessian" else {}))
        assert e.score(make_context(model, x, granularity="element"), layer).shape == (12, 8)
        assert e.score(make_context(model, x, granularity="channel"), layer).shape == (8,)
    ctx = make_context(model, x, granularity="channel")
    np.testing.assert_allclose(make_criterion("l1").score(ctx, layer), np.abs(layer.kernel.numpy()).sum(0),
                               rtol=1e-6)


def test_taylor_identical_batches_same_as_one(small):
    model, _ = small
    x = np.random.default_rng(2).standard_normal((16, 12)).astype(np.float32)
    one = make_context(model, x, batch_size=16)
    rep = make_context(model, np.concatenate([x] * 3), batch_size=16)
    layer = model.get_layer("hidden")
    np.testing.assert_allclose(make_criterion("taylor").score(one, layer),
                               make_criterion("taylor").score(rep, layer), rtol=1e-6)
