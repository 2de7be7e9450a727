"""Property: the slimmed model computes what the masked model computes."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tinyml_prune.pruning.channel import analyse, mask_model, slim_model

from .helpers import random_keep, random_model


# Shrinking rebuilds TF models hundreds of times (minutes): report the first failure as drawn.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.data(), st.integers(0, 2**16))
def test_slimmed_equals_masked_on_random_architectures(data, seed):
    model = random_model(lambda lo, hi: data.draw(st.integers(lo, hi)),
                         lambda: data.draw(st.booleans()), seed)
    cgraph = analyse(model)
    rng = np.random.default_rng(seed)
    keep = random_keep(cgraph, rng)
    slim = slim_model(model, cgraph, keep)
    masked = mask_model(model, cgraph, keep)
    x = rng.normal(size=(4,) + model.input_shape[1:]).astype(np.float32)
    np.testing.assert_allclose(slim(x).numpy(), masked(x).numpy(), rtol=1e-5, atol=1e-5)
    removed = cgraph.all_roots() - keep
    if removed:
        assert slim.count_params() < model.count_params()
    else:
        assert slim.count_params() == model.count_params()
    # Every kept channel count is what the plan says: each layer's output width equals the
    # kept positions of its output tensor.
    slim_shapes = analyse(slim).graph.shapes
    for call in cgraph.graph.calls:
        want = int(cgraph.keep_mask(call.outputs[0], keep).sum())
        assert slim_shapes[call.outputs[0]][-1] == want, call.name
