"""Buffer patching in one place: the patched copy reads back with the new constants and every
other tensor unchanged; a size mismatch is refused with the tensor named; the Ampere 2:4 view of
a model is the code generator's IR."""
from __future__ import annotations

import numpy as np
import pytest

from tinyml_prune.ampere import graph as ampere_graph
from tinyml_prune.codegen.tflite_patch import replace_buffers
from tinyml_prune.codegen.tflite_reader import read_tflite
from tinyml_prune.errors import ModelError

from .opmodels import conv


def _model():
    return conv(np.random.default_rng(0), 6, 6, 8, 4, (3, 3), (1, 1), (1, 1), "SAME", "RELU")


def test_patched_copy_reads_back():
    data = _model()
    before = read_tflite(data)
    op = next(o for o in before.operators if o.opcode == "CONV_2D")
    w = before.tensors[op.inputs[1]]
    new = np.flip(w.data).copy()
    after = read_tflite(replace_buffers(data, {w.index: new}))
    np.testing.assert_array_equal(after.tensors[w.index].data, new)
    for a, b in zip(before.tensors, after.tensors):
        if a.index != w.index and a.data is not None:
            np.testing.assert_array_equal(a.data, b.data)


def test_size_mismatch_names_the_tensor():
    data = _model()
    g = read_tflite(data)
    w = g.tensors[next(o for o in g.operators if o.opcode == "CONV_2D").inputs[1]]
    with pytest.raises(ModelError, match=rf"tensor {w.index} .*holds {w.nbytes} bytes, not 3"):
        replace_buffers(data, {w.index: np.zeros(3, np.int8)})


def test_ampere_view_is_the_ir():
    data = _model()
    ir, view = read_tflite(data), ampere_graph.read(data)
    conv_op = next(o for o in view.ops if o.name == "CONV_2D")
    assert conv_op.options == {"padding": "SAME", "stride": (1, 1), "dilation": (1, 1), "activation": "RELU"}
    w = view.tensors[conv_op.inputs[1]]
    assert w.dtype is np.int8 and w.quantized_dimension == ir.tensors[w.index].quant.axis
    np.testing.assert_array_equal(w.data, ir.tensors[w.index].data)
    with pytest.raises(ModelError, match="TFL3"):
        ampere_graph.read(b"not a model at all")
