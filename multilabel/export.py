"""A trained model (one net or a search ensemble) as an ONNX file that runs with ``onnxruntime`` alone.

The graph, written node by node with ``onnx.helper`` (the net is a fixed Linear-ReLU-Linear, so there is nothing
for a tracing exporter to discover; torch 2.13's TorchScript exporter is deprecated, its dynamo exporter needs
onnxscript, warns, and is far slower: numbers in benchmarks/README.md):

- input ``features``: float32 [batch, F], raw feature values in the model's feature order;
- ``x = (features - mean) / std`` (the training split's standardization, as ``TrainedModel.predict_proba``);
- per net: ``logits = Gemm(Relu(Gemm(x, W1, b1)), W2, b2)``, ``p = Sigmoid(logits)``;
- outputs ``probabilities`` [batch, L] (an ensemble: the mean of its members' probabilities) and ``logits``
  [batch, L] (an ensemble: the logit of that mean, ``log(p) - log(1 - p)``, so sigmoid(logits) = probabilities).

The batch axis is dynamic. The model's ``metadata_props`` hold JSON values: lists ``feature_names``,
``label_names``, ``thresholds`` (one cut-off per label, as ``predict`` uses), ``members`` (how many nets are
averaged) and ``run_id`` (null when the checkpoint names no run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import TrainedModel
from .errors import MultilabelError
from .paths import atomic_write

OPSET = 17
# IR version 8 (ONNX 1.13) with opset 17: what onnxruntime has read since 1.13, not only the newest releases.
IR_VERSION = 8
INSTALL_HINT = "ONNX export needs the onnx package; install it with: pip install onnx"


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise MultilabelError(INSTALL_HINT) from None
    return onnx


def metadata(trained: TrainedModel) -> dict[str, str]:
    """What the ONNX file's ``metadata_props`` hold: every value JSON text, so one ``json.loads`` reads any."""
    return {
        "feature_names": json.dumps(list(trained.feature_names)),
        "label_names": json.dumps(list(trained.label_names)),
        "thresholds": json.dumps([float(t) for t in trained.thresholds]),
        "members": json.dumps(len(trained.nets)),
        "run_id": json.dumps(trained.run_id),
    }


def onnx_model(trained: TrainedModel) -> Any:
    """The model as an ``onnx.ModelProto`` (checked with ``onnx.checker``)."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: np.ndarray) -> Any:
        return numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)

    num_labels = len(trained.label_names)
    init = [const("mean", trained.standardizer.mean), const("std", trained.standardizer.std)]
    nodes = [helper.make_node("Sub", ["features", "mean"], ["centered"]),
             helper.make_node("Div", ["centered", "std"], ["x"])]
    nets = trained.nets
    probs = []
    for i, net in enumerate(nets):
        first, last = net.net[0], net.net[-1]
        w1, b1, w2, b2 = (t.detach().cpu().numpy() for t in (first.weight, first.bias, last.weight, last.bias))
        init += [const(f"w1_{i}", w1), const(f"b1_{i}", b1), const(f"w2_{i}", w2), const(f"b2_{i}", b2)]
        logits = "logits" if len(nets) == 1 else f"logits_{i}"
        prob = "probabilities" if len(nets) == 1 else f"probabilities_{i}"
        nodes += [helper.make_node("Gemm", ["x", f"w1_{i}", f"b1_{i}"], [f"h_{i}"], transB=1),
                  helper.make_node("Relu", [f"h_{i}"], [f"relu_{i}"]),
                  helper.make_node("Gemm", [f"relu_{i}", f"w2_{i}", f"b2_{i}"], [logits], transB=1),
                  helper.make_node("Sigmoid", [logits], [prob])]
        probs.append(prob)
    if len(nets) > 1:
        # As predict_proba: the sum of the members' probabilities, divided by their count.
        init += [const("count", np.array(len(nets))), const("one", np.array(1.0))]
        nodes += [helper.make_node("Sum", probs, ["prob_sum"]),
                  helper.make_node("Div", ["prob_sum", "count"], ["probabilities"]),
                  helper.make_node("Sub", ["one", "probabilities"], ["complement"]),
                  helper.make_node("Log", ["probabilities"], ["log_p"]),
                  helper.make_node("Log", ["complement"], ["log_q"]),
                  helper.make_node("Sub", ["log_p", "log_q"], ["logits"])]
    features = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", len(trained.feature_names)])
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", num_labels])
               for name in ("probabilities", "logits")]
    kind = f"an ensemble of {len(nets)} nets" if len(nets) > 1 else "one net"
    graph = helper.make_graph(nodes, "multilabel", [features], outputs, init,
                              doc_string=f"multi-label classifier ({kind}): raw features in, sigmoid "
                                         "probabilities and logits out")
    model = helper.make_model(graph, producer_name="multilabel", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    helper.set_model_props(model, metadata(trained))
    onnx.checker.check_model(model)
    return model


def onnx_bytes(trained: TrainedModel) -> bytes:
    """The ONNX file's content (what the pages' download buttons serve); the same model gives the same bytes."""
    return onnx_model(trained).SerializeToString()


def export_onnx(trained: TrainedModel, out: str | os.PathLike) -> Path:
    """Write ``trained`` as ONNX to ``out`` atomically (a temporary file renamed at the end; a full disk: one line,
    nothing left behind)."""
    return atomic_write(out, onnx_bytes(trained))


def read_metadata(model: Any) -> dict[str, Any]:
    """The metadata of an exported model (a path, bytes or an ``onnxruntime.InferenceSession``), decoded:
    {"feature_names": [...], "label_names": [...], "thresholds": [...], "members": int, "run_id": str or None}."""
    if hasattr(model, "get_modelmeta"):
        props = model.get_modelmeta().custom_metadata_map
    else:
        onnx = _onnx()
        proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(os.fspath(model))
        props = {p.key: p.value for p in proto.metadata_props}
    return {k: json.loads(props[k]) for k in ("feature_names", "label_names", "thresholds", "members", "run_id")}
