"""Random small architectures for the slimmed == masked property."""
from __future__ import annotations

import numpy as np

from tinyml_prune.kerasenv import keras
from tinyml_prune.pruning.channel.api import enforce_minimum

L = keras.layers


def randomise_bn(model, rng) -> None:
    """Give every BatchNormalization non-trivial statistics so it is not the identity."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n),
                               rng.normal(0, 0.3, n), rng.uniform(0.5, 2.0, n)])


def random_model(draw_int, draw_bool, seed: int):
    """A functional model from conv/bn/relu/depthwise/add/concat/pool/flatten/dense/dropout/GAP
    blocks; ``draw_int(lo, hi)`` / ``draw_bool()`` make the structural choices."""
    keras.utils.set_random_seed(seed)
    x = inp = keras.Input((6, 6, draw_int(1, 3)), name="input")
    width = None
    for i in range(draw_int(1, 4)):
        kind = draw_int(0, 5)
        if kind == 0 or width is None:  # conv (+BN) (+ReLU)
            width = draw_int(2, 6)
            x = L.Conv2D(width, draw_int(1, 3), padding="same", use_bias=draw_bool(), name=f"conv{i}")(x)
            if draw_bool():
                x = L.BatchNormalization(name=f"bn{i}")(x)
            if draw_bool():
                x = L.ReLU(name=f"relu{i}")(x)
        elif kind == 1:  # depthwise (+BN) (+Activation)
            m = draw_int(1, 2)
            x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=m, use_bias=draw_bool(),
                                  name=f"dw{i}")(x)
            width *= m
            if draw_bool():
                x = L.BatchNormalization(name=f"dwbn{i}")(x)
            x = L.Activation("relu", name=f"act{i}")(x)
        elif kind == 2:  # residual: two convs, Add with the input
            y = L.Conv2D(draw_int(2, 5), 3, padding="same", activation="relu", name=f"res{i}_a")(x)
            y = L.Conv2D(width, 1, name=f"res{i}_b")(y)
            if draw_bool():
                y = L.BatchNormalization(name=f"res{i}_bn")(y)
            x = L.Add(name=f"add{i}")([x, y])
        elif kind == 3:  # concatenate the input with a new branch (offsets)
            extra = draw_int(1, 4)
            y = L.Conv2D(extra, 1, name=f"cat{i}_conv")(x)
            x = L.Concatenate(name=f"cat{i}")([y, x] if draw_bool() else [x, y])
            width += extra
        elif kind == 4:
            x = L.Dropout(0.3, name=f"drop{i}")(x)
        else:
            x = (L.MaxPooling2D if draw_bool() else L.AveragePooling2D)(2, padding="same", name=f"pool{i}")(x)
    if draw_bool():
        x = L.GlobalAveragePooling2D(name="gap")(x)
    else:
        x = L.Flatten(name="flatten")(x)
        x = L.Dense(draw_int(2, 6), name="hidden")(x)
        if draw_bool():
            x = L.BatchNormalization(name="hidden_bn")(x)
        x = L.ReLU(name="hidden_relu")(x)
        x = L.Dropout(0.2, name="hidden_drop")(x)
    out = L.Dense(3, name="out")(x)
    model = keras.Model(inp, out)
    randomise_bn(model, np.random.default_rng(seed))
    return model


def random_keep(cgraph, rng) -> set:
    """Remove a random, non-empty-keeping subset of every prunable group's channels."""
    keep = cgraph.all_roots()
    for g in cgraph.groups:
        if g.prunable and g.size > 1:
            n_remove = int(rng.integers(1, g.size))
            keep -= set(rng.choice(g.channels, n_remove, replace=False).tolist())
    return enforce_minimum(cgraph, keep, lambda name: 1)
