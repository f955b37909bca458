"""Stores the large float initializers of an ONNX model as float16, each followed by a Cast.

Why this exists: the bundled model must stay small enough to commit (<= 10 MB) while every
consumer still sees float32 tensors under the original names. Each float32 initializer larger
than a threshold becomes NAME_fp16 (float16) plus a node `Cast(NAME_fp16, to=FLOAT) -> NAME`
placed before all other nodes, so the rest of the graph is unchanged. The rounding this costs is
measured by the caller (train_opt_bytes.py) by loading the rounded weights back into PyTorch.
"""
from typing import Dict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FP16_SUFFIX = "_fp16"


def store_fp16(model: onnx.ModelProto, min_bytes: int = 1024) -> Dict[str, np.ndarray]:
    """Rewrites `model` in place; returns {original name: float16-rounded value as float32}."""
    graph = model.graph
    graph_inputs = {i.name for i in graph.input}
    casts, kept, rounded = [], [], {}
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or arr.nbytes <= min_bytes:
            kept.append(init)
            continue
        if init.name in graph_inputs:
            raise ValueError(f"initializer {init.name} is also a graph input: export with "
                             "keep_initializers_as_inputs=False")
        half = arr.astype(np.float16)
        if not np.all(np.isfinite(half)):
            raise ValueError(f"initializer {init.name} overflows float16")
        new_name = init.name + FP16_SUFFIX
        kept.append(numpy_helper.from_array(half, new_name))
        casts.append(helper.make_node("Cast", [new_name], [init.name], to=TensorProto.FLOAT,
                                      name=f"Cast_{new_name}"))
        rounded[init.name] = half.astype(np.float32)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return rounded


def convert_file(src: str, dst: str, min_bytes: int = 1024) -> Dict[str, np.ndarray]:
    model = onnx.load(src)
    rounded = store_fp16(model, min_bytes)
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    return rounded
