"""Which channels the slim pass may drop, and why the others must stay.

A *feature* is one index of an activation tensor's last axis (a channel of NHWC, a column
of a FULLY_CONNECTED input). Operators that do not mix features tie them together into
*groups* (union-find) that are kept or dropped as a whole: DEPTHWISE_CONV_2D ties input
channel c to its outputs c·m..c·m+m−1, pooling ties in and out, ADD ties channel c of every
input and of the output, RESHAPE/flatten ties channel c to its spatial positions. CONV_2D
and FULLY_CONNECTED end a group: they read features, they do not pass them on.

Dropping a group is exact only when every member is a *constant* (the same int8 value at
every position, for every input: a channel with all-zero weights outputs
``clamp(requant(bias) + zp)``, not zero) and every consumer can do without it:

* CONV_2D / FULLY_CONNECTED consumers subtract the input zero point, so a constant equal to
  it contributes nothing; any other constant ``c`` contributes ``(c − zp)·Σw`` per output
  channel, which folds into the consumer's int32 bias — unless the convolution pads, since
  padded taps read the zero point and the contribution then varies at the borders;
* DEPTHWISE_CONV_2D, pooling, ADD and RESHAPE pass the constant on (their outputs are in
  the same group and must be constant too: a padded depthwise of a constant other than the
  zero point is not, at the borders).

Model inputs and outputs, SOFTMAX and any operator we do not understand pin their features.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..ir import Graph, Operator
from ..ops import FUSED_ACTIVATIONS, PADDINGS
from ..quantization import activation_range, add_multipliers, per_channel_multipliers
from . import arith

WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
POOLS = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
INT32 = (-(1 << 31), (1 << 31) - 1)
SEP = "\0"  # splits a "not constant" reason into subject and predicate


class Features:
    """Union-find over the features of every activation tensor."""

    def __init__(self, graph: Graph):
        acts = set(graph.inputs) | set(graph.outputs)
        for op in graph.operators:
            acts |= {i for i in op.inputs + op.outputs if i >= 0 and not graph.tensors[i].is_constant}
        self.base, self.width, owner = {}, {}, []
        for t in sorted(acts):
            shape = graph.tensors[t].shape
            w = int(shape[-1]) if shape else 1
            self.base[t], self.width[t] = len(owner), w
            owner += [t] * w
        self.owner = owner
        self.parent = list(range(len(owner)))

    def node(self, t: int, j: int) -> int:
        return self.base[t] + int(j)

    def nodes(self, t: int) -> range:
        return range(self.base[t], self.base[t] + self.width[t])

    def feature(self, n: int) -> tuple[int, int]:
        t = self.owner[n]
        return t, n - self.base[t]

    def find(self, n: int) -> int:
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        out = defaultdict(list)
        for n in range(len(self.owner)):
            out[self.find(n)].append(n)
        return list(out.values())  # ordered by their smallest node


def op_name(op: Operator) -> str:
    return f"operator {op.index} ({op.opcode})"


class Analysis:
    """Couplings, constant channels and the drop decision for one graph."""

    def __init__(self, graph: Graph, options):
        self.g = graph
        self.options = options
        self.f = Features(graph)
        self.pins: dict[int, str] = {}
        self.producer: dict[int, Operator] = {o: op for op in graph.operators for o in op.outputs}
        self.uses: dict[int, list[tuple[Operator, int]]] = defaultdict(list)
        for op in graph.operators:
            for pos, i in enumerate(op.inputs):
                if i >= 0:
                    self.uses[i].append((op, pos))
        # constant features: per tensor a mask and the int8 value (in that tensor's quantization)
        self.cmask = {t: np.zeros(w, bool) for t, w in self.f.width.items()}
        self.cval = {t: np.zeros(w, np.int64) for t, w in self.f.width.items()}
        self.zero_rows: dict[int, tuple[Operator, int]] = {}  # output node -> (op, channel) with all-zero weights
        self.colsum: dict[int, np.ndarray] = {}  # consumer op -> [out rows, input features] Σw
        self.dropped: set[int] = set()
        self.folds: dict[int, np.ndarray] = {}  # consumer op index -> int64 bias addition per output row
        self.kept: list[dict] = []
        self._couple()
        self._constants()
        self._decide()

    # -- couplings ----------------------------------------------------------------------
    def _pin(self, t: int, reason: str) -> None:
        for n in self.f.nodes(t):
            self.pins.setdefault(n, reason)

    def _tie(self, a: int, ja, b: int, jb) -> None:
        self.f.union(self.f.node(a, ja), self.f.node(b, jb))

    def _couple(self) -> None:
        g, f = self.g, self.f
        for t in g.inputs:
            self._pin(t, f"it is part of the model input '{g.tensors[t].name}'")
        for t in g.outputs:
            self._pin(t, f"it is part of the model output '{g.tensors[t].name}'")
        for op in g.operators:
            acts = [i for i in op.inputs if i >= 0 and i in f.width]
            outs = [o for o in op.outputs if o in f.width]
            problem = self._couple_op(op, acts, outs)
            if problem:
                for t in acts + outs:
                    self._pin(t, f"it reaches {op_name(op)}, which {problem}")

    def _couple_op(self, op: Operator, acts: list[int], outs: list[int]) -> str | None:
        """Tie the features ``op`` passes through; return why it pins them, if it does."""
        g, f = self.g, self.f
        if op.opcode in WEIGHT_OPS + POOLS + ("ADD", "RESHAPE") and (not acts or len(outs) != 1):
            return "has an unexpected signature"
        if op.opcode in WEIGHT_OPS:
            filt = g.tensor(op.inputs[1]) if len(op.inputs) > 1 else None
            if filt is None or not filt.is_constant:
                return "has no constant filter"
            if len(self.uses[filt.index]) > 1:
                return f"shares its filter '{filt.name}' with another operator"
            bias = g.tensor(op.inputs[2]) if len(op.inputs) > 2 else None
            if bias is not None and len(self.uses[bias.index]) > 1:
                return f"shares its bias '{bias.name}' with another operator"
            t_in, t_out = op.inputs[0], outs[0]
            w_in, w_out = f.width[t_in], f.width[t_out]
            if op.opcode == "CONV_2D":
                if filt.data.ndim != 4 or filt.data.shape[3] != w_in or filt.data.shape[0] != w_out:
                    return "has a filter that does not match its tensors"
            elif op.opcode == "FULLY_CONNECTED":
                if filt.data.ndim != 2 or filt.data.shape[0] != w_out or filt.data.shape[1] % w_in:
                    return (f"reads rows of {filt.data.shape[-1]} values, not whole positions of "
                            f"{w_in} channels")
            else:
                if filt.data.ndim != 4 or filt.data.shape[3] != w_out or w_out % w_in:
                    return "has a filter that does not match its tensors"
                m = w_out // w_in
                for c in range(w_in):
                    for k in range(m):
                        self._tie(t_in, c, t_out, c * m + k)
            return None
        if op.opcode in POOLS:
            if f.width[acts[0]] != f.width[outs[0]]:
                return "changes the number of channels"
            for c in range(f.width[outs[0]]):
                self._tie(acts[0], c, outs[0], c)
            return None
        if op.opcode == "ADD":
            ins = [i for i in op.inputs if i >= 0]
            widths = {f.width[t] for t in acts + outs} | {g.tensors[i].shape[-1] if g.tensors[i].shape else 1
                                                         for i in ins}
            if len(ins) != 2 or len(widths) != 1:
                return "broadcasts its inputs"
            for t in acts[1:] + outs:
                for c in range(f.width[t]):
                    self._tie(acts[0], c, t, c)
            return None
        if op.opcode == "RESHAPE":
            a, b = acts[0], outs[0]
            la, lb = f.width[a], f.width[b]
            if lb % la == 0:
                for j in range(lb):
                    self._tie(a, j % la, b, j)
            elif la % lb == 0:
                for j in range(la):
                    self._tie(a, j, b, j % lb)
            else:
                return f"regroups {la} channels into rows of {lb}"
            return None
        if op.opcode == "SOFTMAX":
            return "normalises over all channels"
        return "is not understood by the slim pass"

    # -- constant channels ----------------------------------------------------------------
    def _padded(self, op: Operator, k_hw) -> bool:
        """Whether some output's window reaches into the padding (reads the zero point)."""
        o = op.options
        explicit = op.attrs.get("explicit_padding")
        if explicit is not None:
            return any(v > 0 for pair in explicit for v in pair)
        if PADDINGS.get(int(o.padding)) != "SAME":
            return False
        _, ih, iw, _ = self.g.tensors[op.inputs[0]].shape
        _, oh, ow, _ = self.g.tensors[op.outputs[0]].shape
        stride = (int(o.strideH), int(o.strideW))
        dil = (int(getattr(o, "dilationHFactor", 1) or 1), int(getattr(o, "dilationWFactor", 1) or 1))
        for i_, o_, k, s, d in zip((ih, iw), (oh, ow), k_hw, stride, dil):
            if (o_ - 1) * s + (k - 1) * d + 1 - i_ > 0:
                return True
        return False

    def _act(self, op: Operator, out) -> tuple[int, int] | None:
        code = int(getattr(op.options, "fusedActivationFunction", 0) or 0) if op.options is not None else 0
        try:
            return activation_range(FUSED_ACTIVATIONS.get(code, "?"), out.scale, out.zero_point)
        except ValueError:
            return None  # unsupported activation: the emitter reports it

    def _constants(self) -> None:
        for op in self.g.operators:
            if op.opcode in WEIGHT_OPS and op.outputs[0] in self.f.width and op.inputs[0] in self.f.width:
                self._gemm_constants(op)
            elif op.opcode in POOLS:
                self._pool_constants(op)
            elif op.opcode == "ADD":
                self._add_constants(op)
            elif op.opcode == "RESHAPE":
                self._reshape_constants(op)

    def _gemm_constants(self, op: Operator) -> None:
        g = self.g
        inp, filt, out = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        bias_t = g.tensor(op.inputs[2]) if len(op.inputs) > 2 else None
        if filt.data is None or filt.quant is None or inp.quant is None or out.quant is None:
            return
        w = filt.data.astype(np.int64)
        zp = inp.zero_point
        mask, val = self.cmask[inp.index], self.cval[inp.index]
        w_in = self.f.width[inp.index]
        if op.opcode == "DEPTHWISE_CONV_2D":
            oc = w.shape[3]
            if w_in == 0 or oc % w_in:
                return
            flat = w.reshape(-1, oc)
            cin = np.arange(oc) // (oc // w_in)
            padded = self._padded(op, w.shape[1:3])
            usable = mask[cin] & ((val[cin] == zp) | (not padded))
            nonzero = (flat != 0).any(axis=0)
            const = ~nonzero | usable
            delta = np.where(nonzero & usable, (val[cin] - zp) * flat.sum(axis=0), 0)
            multipliers = per_channel_multipliers(inp.scale, filt.quant.scale, out.scale)
        else:
            if w.shape[-1] % w_in or (op.opcode == "CONV_2D" and w.shape[3] != w_in):
                return
            if op.opcode == "CONV_2D":
                colsum, nonzero = w.sum(axis=(1, 2)), (w != 0).any(axis=(1, 2))
                padded = self._padded(op, w.shape[1:3])
            else:  # FULLY_CONNECTED: column j reads input feature j mod width
                oc, depth = w.shape
                colsum = w.reshape(oc, depth // w_in, w_in).sum(axis=1)
                nonzero = (w != 0).reshape(oc, depth // w_in, w_in).any(axis=1)
                padded = False
            self.colsum[op.index] = colsum
            usable = mask & ((val == zp) | (not padded))
            const = ~(nonzero & ~usable).any(axis=1)
            delta = colsum @ np.where(usable, val - zp, 0)
            nonzero = nonzero.any(axis=1)
            multipliers = per_channel_multipliers(inp.scale, filt.quant.scale, out.scale,
                                                  float_product=op.opcode == "FULLY_CONNECTED"
                                                  and not filt.quant.per_channel)
        act = self._act(op, out)
        if act is None:
            return
        bias = np.zeros(len(const), np.int64) if bias_t is None or bias_t.data is None \
            else bias_t.data.astype(np.int64).reshape(-1)
        if bias.size != len(const):
            return
        mults, shifts = multipliers
        rounding = self.options.rounding_for(op.opcode)
        for o in np.flatnonzero(~nonzero):
            self.zero_rows[self.f.node(out.index, o)] = (op, int(o))
        for o in np.flatnonzero(const):
            q = o if len(mults) > 1 else 0
            acc = int(bias[o] + delta[o])
            self.cmask[out.index][o] = True
            self.cval[out.index][o] = arith.gemm_output(acc, mults[q], shifts[q], rounding, out.zero_point, act)

    def _pool_constants(self, op: Operator) -> None:
        a, b = op.inputs[0], op.outputs[0]
        act = self._act(op, self.g.tensors[b])
        if act is None or self.f.width[a] != self.f.width[b]:
            return
        # Every window averages (or maxes) copies of one value: the value itself.
        self.cmask[b][:] = self.cmask[a]
        self.cval[b][:] = np.clip(self.cval[a], *act)

    def _add_constants(self, op: Operator) -> None:
        g = self.g
        ins = [i for i in op.inputs if i >= 0]
        if len(ins) != 2 or ins[0] not in self.f.width:
            return
        a, b, out = (g.tensors[i] for i in (*ins, op.outputs[0]))
        if len({self.f.width.get(t.index, t.shape[-1] if t.shape else 1) for t in (a, b, out)}) != 1:
            return
        if b.is_constant:
            rows = b.data.reshape(-1, b.shape[-1]).astype(np.int64)
            bmask, bval = (rows == rows[0]).all(axis=0), rows[0]
        else:
            bmask, bval = self.cmask[b.index], self.cval[b.index]
        act = self._act(op, out)
        try:
            consts = dict(add_multipliers(a.scale, b.scale, out.scale), input1_offset=-a.zero_point,
                          input2_offset=-b.zero_point, output_offset=out.zero_point)
        except Exception:  # noqa: BLE001 - the emitter names the problem
            return
        if act is None:
            return
        rounding = self.options.rounding_for(op.opcode)
        for c in np.flatnonzero(self.cmask[a.index] & bmask):
            self.cmask[out.index][c] = True
            self.cval[out.index][c] = arith.add_output(int(self.cval[a.index][c]), int(bval[c]), consts,
                                                       rounding, act)

    def _reshape_constants(self, op: Operator) -> None:
        a, b = op.inputs[0], op.outputs[0]
        la, lb = self.f.width[a], self.f.width[b]
        if lb % la == 0:
            idx = np.arange(lb) % la
            self.cmask[b][:] = self.cmask[a][idx]
            self.cval[b][:] = self.cval[a][idx]
        elif la % lb == 0:
            m, v = self.cmask[a].reshape(-1, lb), self.cval[a].reshape(-1, lb)
            self.cmask[b][:] = m.all(axis=0) & (v == v[0]).all(axis=0)
            self.cval[b][:] = v[0]

    # -- the decision -----------------------------------------------------------------------
    def _decide(self) -> None:
        removed_per_tensor = defaultdict(int)
        for members in self.f.groups():
            reason, folds = self._check(members)
            if reason is None:
                reason = self._check_width(members, removed_per_tensor) or self._check_bias(folds)
            if reason is None:
                self.dropped.update(members)
                for n in members:
                    removed_per_tensor[self.f.owner[n]] += 1
                for k, add in folds.items():
                    self.folds[k] = self.folds.get(k, 0) + add
                continue
            for n in members:
                if n in self.zero_rows:
                    op, ch = self.zero_rows[n]
                    self.kept.append(dict(operator=op.index, op=op.opcode, channel=ch,
                                          tensor=self.g.tensors[op.outputs[0]].name,
                                          reason=_phrase(reason, f"{op_name(op)} output channel {ch}")))

    def _check(self, members: list[int]) -> tuple[str | None, dict]:
        for n in members:
            if n in self.pins:
                return self.pins[n], {}
        varying = [n for n in members if not self.cmask[self.f.owner[n]][self.f.feature(n)[1]]]
        if varying:
            return self._why_varying(varying), {}
        folds: dict[int, np.ndarray] = {}
        for n in members:
            t, j = self.f.feature(n)
            v, zp = int(self.cval[t][j]), self.g.tensors[t].zero_point
            for op, pos in self.uses[t]:
                if pos != 0 or op.opcode not in ("CONV_2D", "FULLY_CONNECTED") or v == zp:
                    continue
                if op.opcode == "CONV_2D" and self._padded(op, self.g.tensors[op.inputs[1]].shape[1:3]):
                    return (f"{op_name(op)} pads its input and the channel's constant value {v} differs from "
                            f"the zero point {zp}"), {}
                folds[op.index] = folds.get(op.index, 0) + (v - zp) * self.colsum[op.index][:, j]
        return None, folds

    def _why_varying(self, varying: list[int]) -> str:
        """``subject SEP predicate`` for the most telling feature that is not constant."""
        rank = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 1}

        def key(n):
            p = self.producer.get(self.f.owner[n])
            return (rank.get(p.opcode, 2) if p else 3, n)

        n = min(varying, key=key)
        t, j = self.f.feature(n)
        p = self.producer.get(t)
        if p is None:
            return f"channel {j} of '{self.g.tensors[t].name}'{SEP}is not constant"
        subject = f"{op_name(p)} output channel {j}"
        if p.opcode == "DEPTHWISE_CONV_2D":
            src = p.inputs[0]
            cin = j // (self.f.width[t] // self.f.width[src])
            if self.cmask[src][cin]:
                return (f"{subject}{SEP}is not constant at the borders: the depthwise pads its input and input "
                        f"channel {cin}'s constant value {int(self.cval[src][cin])} differs from the zero point "
                        f"{self.g.tensors[src].zero_point}")
            return f"{subject}{SEP}depends on input channel {cin}, which is not constant"
        if p.opcode in ("CONV_2D", "FULLY_CONNECTED"):
            return f"{subject}{SEP}has nonzero weights on inputs that are not constant"
        return f"{subject}{SEP}is not constant"

    def _check_width(self, members: list[int], removed: dict) -> str | None:
        count = defaultdict(int)
        for n in members:
            count[self.f.owner[n]] += 1
        for t, k in count.items():
            if removed[t] + k >= self.f.width[t]:
                return f"dropping it would leave tensor '{self.g.tensors[t].name}' without channels"
        return None

    def _check_bias(self, folds: dict) -> str | None:
        for k, add in folds.items():
            op = self.g.operators[k]
            b = self.g.tensor(op.inputs[2]) if len(op.inputs) > 2 else None
            base = np.zeros(len(add), np.int64) if b is None else b.data.astype(np.int64).reshape(-1)
            total = base + self.folds.get(k, 0) + add
            worst = int(total[np.argmax(np.abs(total))]) if total.size else 0
            if not INT32[0] <= worst <= INT32[1]:
                return f"folding its constant into {op_name(op)}'s bias gives {worst}, which overflows int32"
        return None


def _phrase(reason: str, own: str) -> str:
    """A reason as the user reads it for zero-weight channel ``own``."""
    if SEP not in reason:
        return reason
    subject, predicate = reason.split(SEP)
    if subject == own:
        return f"it {predicate}"
    return f"it is tied (by depthwise/pool/ADD/reshape) to {subject}, which {predicate}"
