"""GATHER int8 along one axis with constant indices (batch dimensions included): the
indices are checked on the host and emitted as const data; tp_gather_s8 copies rows."""
from __future__ import annotations

import numpy as np

from ..fold import all_const
from .shape_ops import ShapeOpEmitter
from . import register


def _prod(dims) -> int:
    return int(np.prod(dims, dtype=np.int64)) if len(dims) else 1


@register
class Gather(ShapeOpEmitter):
    opcode = "GATHER"
    template = "ops/gather.j2"
    sources = ("tp_gather_s8.c",)

    @classmethod
    def geometry(cls, op, params_shape, indices_shape):
        o = op.options
        rank = len(params_shape)
        axis = int(o.axis) if o is not None else 0
        batch_dims = int(o.batchDims) if o is not None else 0
        axis = axis + rank if axis < 0 else axis
        batch_dims = batch_dims + len(indices_shape) if batch_dims < 0 else batch_dims
        if not 0 <= axis < rank:
            raise ValueError(f"axis {axis} is out of range for a {rank}-D input")
        if not 0 <= batch_dims <= min(axis, len(indices_shape)):
            raise ValueError(f"batch_dims {batch_dims} must lie in [0, min(axis, indices rank)]")
        if tuple(params_shape[:batch_dims]) != tuple(indices_shape[:batch_dims]):
            raise ValueError(f"the first {batch_dims} axes of input {list(params_shape)} and indices "
                             f"{list(indices_shape)} differ")
        out_shape = tuple(params_shape[:axis]) + tuple(indices_shape[batch_dims:]) + tuple(params_shape[axis + 1:])
        return dict(batch=_prod(params_shape[:batch_dims]), outer=_prod(params_shape[batch_dims:axis]),
                    axis_size=int(params_shape[axis]), coords=_prod(indices_shape[batch_dims:]),
                    inner=_prod(params_shape[axis + 1:])), out_shape

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        if values is None:
            return None
        x = np.asarray(values[0]).reshape(graph.tensors[op.inputs[0]].shape)
        idx = np.asarray(values[1], np.int64).reshape(graph.tensors[op.inputs[1]].shape)
        try:
            g, out_shape = cls.geometry(op, x.shape, idx.shape)
        except ValueError:
            return None
        if (idx < 0).any() or (idx >= g["axis_size"]).any():
            return None
        src = x.reshape(g["batch"], g["outer"], g["axis_size"], g["inner"])
        flat = idx.reshape(g["batch"], g["coords"])
        out = np.stack([src[b][:, flat[b], :] for b in range(g["batch"])])
        return [out.reshape(out_shape)]

    def prepare(self):
        x = self.input(0)
        if x.is_constant:
            self.fail(f"a constant input '{x.name}' with indices computed at run time is not supported")
        self.activation_tensor(x, "input")
        out = self.activation_tensor(self.output(), "output")
        idx_t = self.input(1)
        idx = self.const_ints(1, "indices")
        try:
            self.params, out_shape = self.geometry(self.op, x.shape, idx_t.shape)
        except ValueError as e:
            self.fail(str(e), unsupported=False)
        self.check_shape(out, out_shape)
        bad = idx[(idx < 0) | (idx >= self.params["axis_size"])]
        if bad.size:
            self.fail(f"index {int(bad.reshape(-1)[0])} in '{idx_t.name}' is out of range [0, "
                      f"{self.params['axis_size']})", unsupported=False)
        if out.size == 0:
            self.fail(f"output tensor '{out.name}' is empty (shape {list(out.shape)})")
        self.indices = self.add_array("indices", "int32_t", idx.astype(np.int32).reshape(-1), "params")

    @property
    def activation_inputs(self):
        return [self.input(0)]
