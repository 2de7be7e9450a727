"""Hutchinson Hessian trace criterion.

Hutchinson's estimator: for Rademacher probes v (entries ±1), E[vᵀHv] = tr(H) and
E[v ⊙ Hv] = diag(H). One probe spans the kernels of all prunable layers, so each
Hessian-vector product (HVP) updates every layer's and every channel's estimate at once
(cross-layer terms average out). HVPs are forward-over-reverse (``tf.autodiff.ForwardAccumulator``
over a ``GradientTape`` gradient) or reverse-over-reverse (nested tapes); both give the same
numbers. Probing stops when every layer's running trace moved by less than ``tol`` (relative)
over the last probe, after ``min_samples`` and at most ``max_samples`` probes.

Scores:
  element — w_i² · tr(H_c)/params_c, the HAP sensitivity density of the element's output
            channel (the per-element diagonal v⊙Hv is far too noisy with tens of probes to rank
            single weights; the channel block's trace averages params_c of them);
  channel — HAP/EHAP sensitivity  tr(H_c)/params_c · ‖w_c‖²  (tr(H_c): Hutchinson trace of
            the channel's diagonal block).
A channel's estimated trace can be ≤ 0 with few probes (noise, or negative curvature); scores
use max(tr(H_c)/params_c, floor · tr(H)/params) so that one noisy estimate cannot wipe out a
channel (``floor`` = 0.1 by default; the raw estimates are in ``HutchinsonResult``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import ModelError
from ...kerasenv import keras, tf
from ..layers import channel_reduce, kernel_variable, output_channel_axis, prunable_layers
from .base import Criterion, kernel_array, register_criterion

DTYPES = ("float32", "float16")
HVP_MODES = ("forward_over_reverse", "reverse_over_reverse")


@dataclass
class HutchinsonResult:
    diag: dict[str, np.ndarray]          # per-element diagonal estimate, kernel-shaped
    trace: dict[str, float]              # per-layer trace estimate
    samples: int                         # probes used
    history: dict[str, list] = field(default_factory=dict)  # running trace per probe

    def channel_trace(self, layer) -> np.ndarray:
        return channel_reduce(self.diag[layer.name], layer)


def _compute_model(model, dtype: str):
    """``model`` itself for float32, a float16 copy for float16 (same weights, cast)."""
    if dtype == "float32":
        return model
    def as_fp16(layer):
        cfg = layer.get_config()
        if isinstance(layer, keras.layers.InputLayer):
            return layer.__class__.from_config(cfg)
        cfg["dtype"] = "float16"  # variables and compute in fp16 (not mixed precision)
        return layer.__class__.from_config(cfg)

    try:
        copy = keras.models.clone_model(model, clone_function=as_fp16)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"cannot build a float16 copy of {model.name!r} for the Hessian: {e}") from None
    copy.set_weights(model.get_weights())
    return copy


def make_hvp(model, variables, x, y, loss_fn, mode: str = "forward_over_reverse"):
    """A function v -> H·v of the mean loss on (x, y) with respect to ``variables``."""
    x = tf.constant(x, dtype=model.inputs[0].dtype if model.inputs else tf.float32)
    y = tf.constant(y)

    def loss():
        return tf.reduce_mean(loss_fn(y, model(x, training=False)))

    if mode == "forward_over_reverse":
        @tf.function(reduce_retracing=True)
        def hvp(vs):
            with tf.autodiff.ForwardAccumulator(variables, vs) as acc:
                with tf.GradientTape() as tape:
                    value = loss()
                grads = tape.gradient(value, variables)
            return acc.jvp(grads)
    elif mode == "reverse_over_reverse":
        @tf.function(reduce_retracing=True)
        def hvp(vs):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    value = loss()
                grads = inner.gradient(value, variables)
                dot = tf.add_n([tf.reduce_sum(g * tf.cast(v, g.dtype)) for g, v in zip(grads, vs)])
            return outer.gradient(dot, variables)
    else:
        raise ModelError(f"unknown HVP mode {mode!r}; use {', '.join(HVP_MODES)}")
    return hvp


def hutchinson(model, layers, x, y, loss_fn, dtype: str = "float32", max_samples: int = 64,
               min_samples: int = 8, tol: float = 0.02, seed: int = 0,
               mode: str = "forward_over_reverse") -> HutchinsonResult:
    """Hutchinson estimates of the diagonal and trace of the loss Hessian, per layer kernel."""
    if dtype not in DTYPES:
        raise ModelError(f"hessian dtype {dtype!r}: use {', '.join(DTYPES)}")
    cm = _compute_model(model, dtype)
    names = [l.name for l in layers]
    variables = [kernel_variable(cm.get_layer(n)) for n in names]
    hvp = make_hvp(cm, variables, x, y, loss_fn, mode)
    rng = np.random.default_rng(seed)
    acc = [np.zeros(v.shape, np.float64) for v in variables]
    history = {n: [] for n in names}
    k = 0
    for k in range(1, max_samples + 1):
        vs = [tf.constant(rng.choice(np.array([-1.0, 1.0], np.float32), size=v.shape), dtype=v.dtype)
              for v in variables]
        hv = hvp(vs)
        for a, v, h in zip(acc, vs, hv):
            a += v.numpy().astype(np.float64) * h.numpy().astype(np.float64)
        converged = k >= min_samples
        for n, a in zip(names, acc):
            t = a.sum() / k
            hist = history[n]
            if hist and abs(t - hist[-1]) > tol * max(abs(t), 1e-12):
                converged = False
            hist.append(t)
        if converged:
            break
    diag = {n: (a / k).astype(np.float64) for n, a in zip(names, acc)}
    return HutchinsonResult(diag, {n: float(d.sum()) for n, d in diag.items()}, k, history)


@register_criterion
@dataclass(frozen=True)
class HutchinsonHessian(Criterion):
    name = "hessian"
    estimator = ("Hutchinson Hessian trace (Rademacher probes, HVPs); element: w²·tr(H_c)/params_c "
                 "of its output channel c; channel: HAP/EHAP tr(H_c)/params_c·‖w_c‖²")
    needs_data = True
    dtype: str = "float32"
    max_samples: int = 64
    min_samples: int = 8
    tol: float = 0.02
    seed: int = 0
    mode: str = "forward_over_reverse"
    floor: float = 0.1  # channel curvature floor, as a fraction of the layer's mean (see score)

    def result(self, ctx) -> HutchinsonResult:
        key = ("hutchinson", self)
        if key not in ctx.cache:
            ctx.cache[key] = hutchinson(ctx.model, prunable_layers(ctx.model), ctx.x, ctx.y,
                                        ctx.per_sample_loss, self.dtype, self.max_samples,
                                        self.min_samples, self.tol, self.seed, self.mode)
        return ctx.cache[key]

    def score(self, ctx, layer) -> np.ndarray:
        if self.needs_data:
            ctx.require_data(self.name)
        res = self.result(ctx)
        w = kernel_array(layer).astype(np.float64)
        axis = output_channel_axis(layer)
        density = res.channel_trace(layer) / (w.size / w.shape[axis])  # tr(H_c)/params_c
        # A channel's trace from tens of probes can come out ≤ 0 (noise, or negative curvature);
        # taken literally it would rank the whole channel below every other weight. Floor it at
        # a tenth of the layer's mean curvature tr(H)/params.
        layer_density = res.trace[layer.name] / w.size
        if layer_density > 0:
            density = np.maximum(density, self.floor * layer_density)
        if ctx.granularity == "channel":
            return density * channel_reduce(w * w, layer)
        shape = [1] * w.ndim
        shape[axis] = -1
        return density.reshape(shape) * w * w
