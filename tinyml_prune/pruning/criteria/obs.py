"""Layer-wise Optimal Brain Surgeon with weight reconstruction (criterion ``obs``).

One-shot and data-driven. For every pruned layer, in model order, the layer's inputs on the
calibration data are taken from the model *as pruned so far* (so upstream errors are seen and
corrected, not compounded), and its weights are pruned and reconstructed to reproduce the
output the layer had before pruning (the reference: the weights when ``select`` was called):

- unstructured and N:M: ``pruning.obs.core`` (OBS saliency w²/[H⁻¹]ᵢᵢ, SparseGPT-style
  Cholesky sweep with lazy block updates, exact re-solve of the kept weights). With
  ``correct_upstream`` the dense weights are first re-fitted by least squares from the pruned
  inputs to the reference outputs. Layer scope: every layer at its target. Global scope: the
  per-layer sparsities are allocated from each layer's measured error curve (squared relative
  reconstruction error vs sparsity on ``grid``), least summed error for the total target.
- channel: channels are ranked by the OBS error of removing them from the layers that read
  them (group OBS over the channel's im2col columns), the model is slimmed, then every
  Conv/Dense/Depthwise is re-fitted by least squares to the dense model's pre-activation
  outputs (``pruning.obs.channels``).

BatchNormalization statistics after the first pruned layer are re-estimated on the
calibration data (``bn_reestimate``). The per-layer relative reconstruction error
‖XᵣW − XₚŴ‖/‖XᵣW‖, and the same for masking alone, goes into the report.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..layers import kernel_variable
from ..masker import Masker
from .base import Criterion, register_criterion

GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@register_criterion
@dataclass(frozen=True)
class OptimalBrainSurgeon(Criterion):
    name = "obs"
    estimator = ("layer-wise Optimal Brain Surgeon with reconstruction: H = XᵀX of each layer's "
                 "calibration inputs (im2col), saliency w²/[H⁻¹]ᵢᵢ, Cholesky sweep with lazy block "
                 "updates, kept weights re-solved exactly, layers in sequence on pruned upstream; "
                 "channel: group OBS ranking + least-squares refit of the layers")
    granularities = frozenset({"element", "channel"})
    needs_data = True
    updates_weights = True
    n_samples: int = 256          # calibration inputs
    percdamp: float = 0.01        # dampening, fraction of mean(diag H)
    block: int = 128              # columns per lazy-update block
    max_rows: int = 65536         # GEMM rows (samples × positions) per layer
    refit: bool = True            # exact re-solve of kept weights on the final mask
    correct_upstream: bool = True  # refit to the reference outputs from pruned inputs
    bn_reestimate: bool = True
    grid: tuple = GRID            # global scope: sparsities of the error curves
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "grid", tuple(float(g) for g in self.grid))

    # -- scores (for callers that only want a ranking) ---------------------------------------
    def element_scores(self, ctx, layer) -> np.ndarray:
        """OBS saliency w²/[H⁻¹]ᵢᵢ on the dense inputs (no reconstruction)."""
        from ..obs.calib import check_supported, layer_inputs
        from ..obs.core import damp, inverse
        from ..obs.layerwise import problems

        ctx.require_data(self.name)
        check_supported(layer)
        a = layer_inputs(ctx.model, layer, ctx.x[: self.n_samples])
        probs = problems(layer, a, a, self.max_rows, self.seed)
        sal = []
        for p in probs:
            Hd, _ = damp(p.H, self.percdamp)
            d = np.diag(inverse(Hd))
            s = p.W ** 2 / d[:, None]
            sal.append(s[~p.protect])
        shape = tuple(kernel_variable(layer).shape)
        if len(sal) == 1:
            return sal[0].reshape(shape)
        return np.stack(sal, axis=1).reshape(shape)   # depthwise: [t, c, m]

    def channel_contributions(self, ctx, cgraph, interest):
        from ..obs.channels import channel_contributions

        ctx.require_data(self.name)
        with _one_blas_thread():
            return channel_contributions(self, ctx, cgraph, interest)

    # -- the solver ------------------------------------------------------------------------
    def solve(self, ctx, layers, masker: Masker, level, global_: bool):
        """{name: (kernel, mask)}; also writes kernels, biases and BN statistics into ctx.model."""
        with _one_blas_thread():
            return self._solve(ctx, layers, masker, level, global_)

    def _solve(self, ctx, layers, masker: Masker, level, global_: bool):
        from ..api import clone
        from ..obs.calib import batchnorms, check_supported, layer_inputs, reestimate_bn
        from ..obs.layerwise import patterns, problems, solve

        ctx.require_data(self.name)
        model = ctx.model
        x = np.asarray(ctx.x[: self.n_samples], np.float32)
        index = {id(l): i for i, l in enumerate(model.layers)}
        order = sorted(layers, key=lambda l: index[id(l)])
        for l in order:
            check_supported(l)
        ref = clone(model)
        if global_:
            levels = self._allocate(ref, order, level, x)
        else:
            levels = level if isinstance(level, dict) else {l.name: level for l in order}
        first = index[id(order[0])] if order else 0
        pending = [b for b in batchnorms(model) if index[id(b)] > first] if self.bn_reestimate else []
        out, report = {}, {}
        for layer in order:
            t0 = time.perf_counter()
            here = [b for b in pending if index[id(b)] < index[id(layer)]]
            reestimate_bn(model, here, x)
            pending = [b for b in pending if b not in here]
            a_p = layer_inputs(model, layer, x)
            a_r = layer_inputs(ref, ref.get_layer(layer.name), x)
            probs = problems(layer, a_p, a_r, self.max_rows, self.seed)
            s = solve(layer, probs, patterns(probs, masker, levels[layer.name]), self.correct_upstream,
                      self.percdamp, self.block, self.refit)
            kernel_variable(layer).assign(s.kernel * s.mask)
            if s.bias is not None:
                layer.bias.assign(s.bias)
            out[layer.name] = (s.kernel, s.mask)
            report[layer.name] = {"rel_error": s.rel_error, "rel_error_mask_only": s.rel_error_mask,
                                  "sparsity": float(1.0 - s.mask.mean()),
                                  "seconds": round(time.perf_counter() - t0, 3)}
        reestimate_bn(model, pending, x)
        ctx.cache["layer_errors"] = report
        return out

    def _allocate(self, ref, order, target: float, x) -> dict[str, float]:
        from ..obs.calib import layer_inputs
        from ..obs.core import allocate
        from ..obs.layerwise import error_curve, prunable_size, problems

        grid = np.array(sorted(set(self.grid) | {0.0}))
        curves, sizes = {}, {}
        unstructured = Masker.unstructured()
        for layer in order:
            rl = ref.get_layer(layer.name)
            a = layer_inputs(ref, rl, x)
            probs = problems(rl, a, a, self.max_rows, self.seed)
            curves[layer.name] = (grid, error_curve(probs, unstructured, grid, self.percdamp, self.block))
            sizes[layer.name] = prunable_size(probs)
        return allocate(curves, sizes, float(target))

    # -- channels --------------------------------------------------------------------------
    def prune_channels(self, model, config, x):
        """Slim ``model`` as ``config`` says (channels ranked by OBS), then re-fit every layer;
        returns ``(slim_model, ChannelReport)``."""
        from ..obs.channels import prune_channels_obs

        with _one_blas_thread():
            return prune_channels_obs(self, model, config, x)


def _one_blas_thread():
    """The products here are a few hundred wide: on a shared 2-core machine OpenBLAS threads
    only contend (measured 20× slower for a 16384×145 Gram matrix under load)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
