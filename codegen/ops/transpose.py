"""TRANSPOSE int8 with a constant permutation, up to 6-D (after merging axes that stay
together): one strided copy."""
from __future__ import annotations

import numpy as np

from ..fold import all_const, transpose_copy
from .shape_ops import DataMovement
from . import register


@register
class Transpose(DataMovement):
    opcode = "TRANSPOSE"

    @classmethod
    def fold(cls, op, graph):
        values = all_const(op, graph)
        if values is None:
            return None
        x = np.asarray(values[0]).reshape(graph.tensors[op.inputs[0]].shape)
        perm = [int(v) for v in np.asarray(values[1]).reshape(-1)]
        if sorted(perm) != list(range(x.ndim)):
            return None
        return [np.transpose(x, perm)]

    def plan(self):
        x = self.int8_tensor(self.input(0), "input")
        perm = [int(v) for v in self.const_ints(1, "perm").reshape(-1)]
        if sorted(perm) != list(range(len(x.shape))):
            self.fail(f"perm {perm} is not a permutation of the {len(x.shape)} input axes", unsupported=False)
        self.perm = perm
        self.check_shape(self.output(), [x.shape[p] for p in perm])
        self.add_copy(transpose_copy(x.shape, perm), 0)
