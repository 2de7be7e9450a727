"""Channel pruning with OBS ranking and least-squares reconstruction.

Ranking: a channel is scored where it is *read*. For a Conv/Dense reading it, removing input
channel c zeroes the set P of its im2col columns (kh·kw of them; one for Dense), and the OBS
error of the best reconstruction of that layer's output without them is
Σ_outputs w_Pᵀ (H⁻¹[P, P])⁻¹ w_P, with H = XᵀX of the layer's calibration inputs. A depthwise
layer reading c loses its channel outright: its score is the channel's output energy wᵀHw.
The channel graph aggregates these over every reader (residual streams have several).

Reconstruction: after slimming, every Conv/Dense/DepthwiseConv from the first changed one on,
in model order, is re-fitted by least squares (bias included) from its inputs in the slimmed
model (already re-fitted upstream, BN statistics re-estimated) to the dense model's
pre-activation outputs for the channels it keeps. A refit that would not lower the error
against those outputs is not applied.
"""
from __future__ import annotations

import numpy as np

from ..layers import is_depthwise, kernel_variable
from .calib import (batchnorms, check_supported, has_bias, kernel_matrix, layer_inputs, patches,
                    reestimate_bn, row_subset, with_ones)
from .core import damp, inverse, least_squares
from .layerwise import problems


def _columns_of(layer, d: int, cin: int, c: int) -> np.ndarray:
    return np.arange(c, d, cin)


def channel_contributions(crit, ctx, cgraph, interest: set):
    x = np.asarray(ctx.x[: crit.n_samples], np.float32)
    out = []
    for call in cgraph.graph.calls:
        layer = call.layer
        if call.name in cgraph.unsupported or kernel_variable(layer) is None or not call.inputs:
            continue
        pos = cgraph.tensor_channels[call.inputs[0]]
        if not interest & set(pos.tolist()):
            continue
        check_supported(layer)
        a = layer_inputs(ctx.model, layer, x)
        probs = problems(layer, a, a, crit.max_rows, crit.seed)
        if is_depthwise(layer):
            s = np.array([float(np.einsum("ik,ik->", p.W, p.H @ p.W)) for p in probs])
        else:
            p = probs[0]
            Hd, _ = damp(p.H, crit.percdamp)
            Hinv = inverse(Hd)
            d = int((~p.protect).sum())
            cin = len(pos)
            s = np.zeros(cin)
            for c in range(cin):
                P = _columns_of(layer, d, cin, c)
                wp = p.W[P]
                s[c] = float(np.einsum("ik,ik->", wp, np.linalg.solve(Hinv[np.ix_(P, P)], wp)))
        out.append((pos, s))
    return out


def prune_channels_obs(crit, model, config, x):
    from ..channel.api import ChannelReport, _layer_rows, _resolve_skip, asdict_shallow, plan_channels
    from ..channel.slim import slim_model

    plan = plan_channels(model, config, x)
    slim = slim_model(model, plan.cgraph, plan.keep)
    from ..channel.graph import functional

    errors = refit_slim(crit, functional(model), slim, plan, np.asarray(x[: crit.n_samples], np.float32),
                        _resolve_skip(plan.cgraph, config))
    cfg = {k: (dict(v) if hasattr(v, "items") else v) for k, v in asdict_shallow(config).items()}
    cfg["layers"] = {k: (asdict_shallow(v) if hasattr(v, "__dataclass_fields__") else v)
                     for k, v in config.layers.items()}
    cfg["reconstruction"] = errors
    report = ChannelReport(_layer_rows(plan.cgraph, slim, plan), plan.groups, plan.criterion,
                           plan.estimator, cfg)
    return slim, report


def refit_slim(crit, dense, slim, plan, x, skip=()) -> dict:
    """Least-squares refit of the slimmed model's layers to the dense model's outputs."""
    cg, keep = plan.cgraph, plan.keep
    index = {id(l): i for i, l in enumerate(slim.layers)}
    pending = list(batchnorms(slim)) if crit.bn_reestimate else []
    started = False
    report = {}
    for call in cg.graph.calls:
        layer = call.layer
        if kernel_variable(layer) is None or call.name in cg.unsupported or call.name in skip:
            continue
        kin = cg.keep_mask(call.inputs[0], keep)
        kout = cg.keep_mask(call.outputs[0], keep)
        if not started and kin.all() and kout.all():
            continue
        if not started:
            pending = [b for b in pending if index[id(b)] > index[id(slim.get_layer(call.name))]]
        started = True
        sl = slim.get_layer(call.name)
        here = [b for b in pending if index[id(b)] < index[id(sl)]]
        reestimate_bn(slim, here, x)
        pending = [b for b in pending if b not in here]
        report[call.name] = _refit_layer(crit, layer, sl, layer_inputs(dense, layer, x),
                                         layer_inputs(slim, sl, x), kin, kout)
    reestimate_bn(slim, pending, x)
    return report


def _solve(crit, Xs, Y, W0):
    H, C = Xs.T @ Xs, Xs.T @ Y
    W = least_squares(C, H, W0, crit.percdamp)
    def err(V):
        return float(np.einsum("ik,ik->", V, H @ V) - 2 * np.einsum("ik,ik->", V, C))
    yy = float(np.einsum("ik,ik->", Y, Y))
    e0, e1 = err(W0) + yy, err(W) + yy
    return (W, max(e1, 0.0), max(e0, 0.0), yy) if e1 <= e0 else (W0, max(e0, 0.0), max(e0, 0.0), yy)


def _refit_layer(crit, dl, sl, a_d, a_s, kin, kout) -> dict:
    check_supported(sl)
    bias = has_bias(sl)
    Pd, Ps = patches(dl, a_d), patches(sl, a_s)
    rows = row_subset(len(Pd), crit.max_rows, crit.seed)
    if rows is not None:
        Pd, Ps = Pd[rows], Ps[rows]
    Pd, Ps = Pd.astype(np.float64), Ps.astype(np.float64)
    Kd = kernel_matrix(dl).astype(np.float64)
    bd = dl.bias.numpy().astype(np.float64) if has_bias(dl) else None
    Ks = kernel_matrix(sl).astype(np.float64)
    bs = sl.bias.numpy().astype(np.float64) if bias else None
    e_new = e_old = energy = 0.0
    if is_depthwise(sl):
        m = Ks.shape[2]
        kept = np.flatnonzero(kin)
        newK, newb = Ks.copy(), None if bs is None else bs.copy()
        for j, c in enumerate(kept):
            Y = Pd[:, :, c] @ Kd[:, c, :] + (0.0 if bd is None else bd[c * m:(c + 1) * m])
            Xs = Ps[:, :, j]
            W0 = Ks[:, j, :]
            if bias:
                Xs, W0 = with_ones(Xs), np.vstack([W0, bs[j * m:(j + 1) * m][None, :]])
            W, e1, e0, yy = _solve(crit, Xs, Y, W0)
            newK[:, j, :] = W[: Ks.shape[0]]
            if bias:
                newb[j * m:(j + 1) * m] = W[-1]
            e_new, e_old, energy = e_new + e1, e_old + e0, energy + yy
        kernel_variable(sl).assign(newK.reshape(kernel_variable(sl).shape).astype(np.float32))
        if bias:
            sl.bias.assign(newb.astype(np.float32))
    else:
        Y = Pd @ Kd[:, kout] + (0.0 if bd is None else bd[kout])
        Xs, W0 = Ps, Ks
        if bias:
            Xs, W0 = with_ones(Ps), np.vstack([Ks, bs[None, :]])
        W, e_new, e_old, energy = _solve(crit, Xs, Y, W0)
        kernel_variable(sl).assign(W[: Ks.shape[0]].reshape(kernel_variable(sl).shape).astype(np.float32))
        if bias:
            sl.bias.assign(W[-1].astype(np.float32))
    denom = np.sqrt(energy) if energy > 0 else 1.0
    return {"rel_error": float(np.sqrt(e_new) / denom), "rel_error_sliced": float(np.sqrt(e_old) / denom)}
