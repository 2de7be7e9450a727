"""Int8 chains with chosen all-zero channels, written straight from the TFLite schema.

``Chain`` draws one fixed topology with random weights and quantization:

    input -> CONV kxk (C1) -> DEPTHWISE kxk (C1) -> CONV 1x1 (C2) --+--> ADD -> POOL -> RESHAPE -> FC
                                                  \\-> CONV 1x1 (C2) -+

and ``tflite(zero=..., drop=...)`` writes it with the chosen output channels' weights zeroed
(optionally their biases too, as the channel pruner's masking does) or physically removed.
Removing channels here is hand-written for this topology, independently of codegen/slim,
so the tests can compare the slim pass with a model that never had the channels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codegen.tflbuild import ModelSpec, Op, T, build, options

ACTS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
PADS = {"SAME": 0, "VALID": 1}


def _out(n: int, k: int, padding: str) -> int:
    return n if padding == "SAME" else n - k + 1


@dataclass
class Chain:
    rng: np.random.Generator
    h: int = 6
    w: int = 6
    cin: int = 2
    c1: int = 6
    c2: int = 5
    k1: int = 3
    pad1: str = "SAME"
    kd: int = 3
    pad_dw: str = "SAME"
    residual: bool = True
    pool: str = "MAX_POOL_2D"
    units: int = 4
    act: str = "RELU"

    def __post_init__(self):
        r = self.rng
        self.in_q = (float(r.uniform(0.01, 0.05)), int(r.integers(-20, 20)))
        self.layers = {}
        self._layer("conv1", (self.c1, self.k1, self.k1, self.cin), axis=0)
        self._layer("dw", (1, self.kd, self.kd, self.c1), axis=3)
        self._layer("pw", (self.c2, 1, 1, self.c1), axis=0)
        if self.residual:
            self._layer("skip", (self.c2, 1, 1, self.c1), axis=0)
        h1, w1 = _out(self.h, self.k1, self.pad1), _out(self.w, self.k1, self.pad1)
        self.hw = (_out(h1, self.kd, self.pad_dw), _out(w1, self.kd, self.pad_dw))
        self.pooled = (self.hw[0] // 2, self.hw[1] // 2)
        self._layer("fc", (self.units, self.pooled[0] * self.pooled[1] * self.c2), axis=0)
        # output scale factor and zero point per layer: most values neither 0 nor saturated
        self.q = {name: (float(r.uniform(0.5, 2.0)), int(r.integers(-40, 40))) for name in
                  ("conv1", "dw", "pw", "skip", "add", "fc")}

    def _layer(self, name, shape, axis):
        n = shape[axis]
        w = self.rng.integers(-127, 128, shape).astype(np.int8)
        scales = self.rng.uniform(0.005, 0.03, n)
        # ref_scale: of the whole layer, so a physically slimmed copy keeps its output scale
        self.layers[name] = dict(w=w, scales=scales, axis=axis, bias=self.rng.integers(-2000, 2000, n),
                                 ref_scale=float(scales.max()),
                                 ref_depth=int(np.prod(shape[1:3])) if axis == 3 else int(np.prod(shape[1:])))

    def prunable(self) -> dict[str, int]:
        """Layer -> number of output channels that may be zeroed (the FC is the model output)."""
        return {"conv1": self.c1, "pw": self.c2, **({"skip": self.c2} if self.residual else {})}

    def tflite(self, zero: dict | None = None, zero_bias: bool = False, drop: dict | None = None) -> bytes:
        """``zero``: layer -> channels whose weights (and with ``zero_bias`` biases, and the
        depthwise channels after conv1) become 0. ``drop``: tensor group -> channels removed
        physically: "c1" (conv1/dw) and "c2" (pw/skip/add/pool/FC inputs)."""
        zero, drop = zero or {}, drop or {}
        L = {k: dict(v, w=v["w"].copy(), bias=v["bias"].copy()) for k, v in self.layers.items()}
        for name, chans in zero.items():
            chans = list(chans)
            lay = L[name]
            idx = [slice(None)] * lay["w"].ndim
            idx[lay["axis"]] = chans
            lay["w"][tuple(idx)] = 0
            if zero_bias:
                lay["bias"][chans] = 0
                if name == "conv1":  # the pruner masks the whole group: the depthwise too
                    L["dw"]["w"][..., chans] = 0
                    L["dw"]["bias"][chans] = 0
        k1 = np.setdiff1d(np.arange(self.c1), list(drop.get("c1", ())))
        k2 = np.setdiff1d(np.arange(self.c2), list(drop.get("c2", ())))
        L["conv1"] = _rows(L["conv1"], k1, 0)
        L["dw"] = _rows(L["dw"], k1, 3)
        for name in ("pw", "skip"):
            if name in L:
                L[name] = _rows(L[name], k2, 0)
                L[name]["w"] = L[name]["w"][..., k1]
        ph, pw_ = self.pooled
        fc_cols = (np.arange(ph * pw_)[:, None] * self.c2 + k2[None, :]).reshape(-1)
        L["fc"] = dict(L["fc"], w=L["fc"]["w"][:, fc_cols])
        return self._write(L, len(k1), len(k2))

    def _write(self, L, c1, c2) -> bytes:
        spec = ModelSpec()
        inp = spec.add(T((1, self.h, self.w, self.cin), scale=[self.in_q[0]], zero_point=[self.in_q[1]]))
        h1, w1 = _out(self.h, self.k1, self.pad1), _out(self.w, self.k1, self.pad1)
        x = self._conv(spec, "CONV_2D", inp, L["conv1"], (1, h1, w1, c1), "conv1", self.pad1)
        x = self._conv(spec, "DEPTHWISE_CONV_2D", x, L["dw"], (1, *self.hw, c1), "dw", self.pad_dw)
        y = self._conv(spec, "CONV_2D", x, L["pw"], (1, *self.hw, c2), "pw", "VALID")
        if self.residual:
            s = self._conv(spec, "CONV_2D", x, L["skip"], (1, *self.hw, c2), "skip", "VALID")
            sc, zp = self.q["add"]
            out = spec.add(T((1, *self.hw, c2), scale=[sc * 2 * spec.tensors[y].scale[0]], zero_point=[zp]))
            spec.ops.append(Op("ADD", [y, s], [out], options("AddOptions", fusedActivationFunction=ACTS[self.act]),
                               "AddOptions"))
            y = out
        sc, zp = spec.tensors[y].scale[0], spec.tensors[y].zero_point[0]
        pooled = spec.add(T((1, *self.pooled, c2), scale=[sc], zero_point=[zp]))
        spec.ops.append(Op(self.pool, [y], [pooled], options("Pool2DOptions", padding=PADS["VALID"], strideH=2,
                                                               strideW=2, filterHeight=2, filterWidth=2),
                           "Pool2DOptions"))
        n = self.pooled[0] * self.pooled[1] * c2
        shape = spec.add(T((2,), "int32", data=np.array([1, n], np.int32)))
        flat = spec.add(T((1, n), scale=[sc], zero_point=[zp]))
        spec.ops.append(Op("RESHAPE", [pooled, shape], [flat],
                           options("ReshapeOptions", newShape=np.array([1, n], np.int32)), "ReshapeOptions"))
        out = self._fc(spec, flat, L["fc"])
        spec.inputs, spec.outputs = [inp], [out]
        return build(spec)

    def _bias(self, spec, lay, in_scale):
        s = [in_scale * float(x) for x in lay["scales"]]
        return spec.add(T((len(s),), "int32", scale=s, zero_point=[0] * len(s),
                          data=lay["bias"].astype(np.int32)))

    def _conv(self, spec, opcode, x, lay, out_shape, name, padding):
        in_scale = spec.tensors[x].scale[0]
        n = len(lay["scales"])
        f = spec.add(T(lay["w"].shape, scale=[float(s) for s in lay["scales"]], zero_point=[0] * n,
                       axis=lay["axis"], data=lay["w"]))
        sc, zp = self.q[name]
        out = spec.add(T(out_shape, scale=[_scale(in_scale, lay, sc)], zero_point=[zp]))
        common = dict(padding=PADS[padding], strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1,
                      fusedActivationFunction=ACTS[self.act])
        if opcode == "CONV_2D":
            opt = options("Conv2DOptions", **common)
        else:
            opt = options("DepthwiseConv2DOptions", depthMultiplier=1, **common)
        spec.ops.append(Op(opcode, [x, f, self._bias(spec, lay, in_scale)], [out], opt, type(opt).__name__[:-1]))
        return out

    def _fc(self, spec, x, lay):
        in_scale = spec.tensors[x].scale[0]
        n = len(lay["scales"])
        f = spec.add(T(lay["w"].shape, scale=[float(s) for s in lay["scales"]], zero_point=[0] * n, data=lay["w"]))
        sc, zp = self.q["fc"]
        out = spec.add(T((1, n), scale=[_scale(in_scale, lay, sc)], zero_point=[zp]))
        spec.ops.append(Op("FULLY_CONNECTED", [x, f, self._bias(spec, lay, in_scale)], [out],
                           options("FullyConnectedOptions", fusedActivationFunction=0), "FullyConnectedOptions"))
        return out


def _rows(lay: dict, keep: np.ndarray, axis: int) -> dict:
    idx = [slice(None)] * lay["w"].ndim
    idx[axis] = keep
    return dict(lay, w=lay["w"][tuple(idx)], scales=lay["scales"][keep], bias=lay["bias"][keep])


def _scale(in_scale: float, lay: dict, factor: float) -> float:
    """An output scale that maps typical accumulators (~60·60·sqrt(depth)) to ~±50 codes."""
    return float(in_scale * lay["ref_scale"] * math.sqrt(lay["ref_depth"]) * 70 * factor)
