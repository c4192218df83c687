"""The pages' "Download as ONNX" button: one widget wherever a model can be downloaded (Runs, Predict, Inspect and
a search's ensemble), built on click from the model the page already shows."""

from __future__ import annotations

import importlib.util
from typing import Any, Callable

from multilabel import TrainedModel
from multilabel.export import INSTALL_HINT


def onnx_button(box: Any, model: Callable[[], TrainedModel], file_name: str, key: str) -> None:
    """A download button in ``box`` (st or a column) serving ``model()`` as ONNX; the file is built only when the
    button is clicked (a callable ``data``), so showing the button costs nothing. Without the onnx package: a
    one-line caption saying what to install."""
    if importlib.util.find_spec("onnx") is None:
        box.caption(INSTALL_HINT)
        return
    box.download_button("Download as ONNX", lambda: _bytes(model()), file_name=file_name,
                        mime="application/octet-stream", key=key, on_click="ignore",
                        help="the model for onnxruntime, no torch needed: input 'features' (raw values, in the "
                             "model's feature order), outputs 'probabilities' and 'logits'; names and thresholds "
                             "in its metadata (README, 'Use the model elsewhere')")


def _bytes(trained: TrainedModel) -> bytes:
    from multilabel.export import onnx_bytes

    return onnx_bytes(trained)
