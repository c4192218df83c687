"""multilabel: train and use multi-label classifiers (one sigmoid per label), headless or behind a dashboard.

The public API, listed explicitly; nothing here imports Streamlit. Names are imported on first use (PEP 562), so
``python -m multilabel runs`` does not pay for torch and a training command does not pay for prediction or charts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "TrainedModel": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "TrainConfig": "config",
    "available_devices": "devices", "describe_devices": "devices", "resolve_device": "devices",
    "Dataset": "data", "Standardizer": "data", "guess_label_columns": "data", "load_csv": "data",
    "make_synthetic": "data", "read_csv": "data",
    "TrainResult": "engine", "train": "engine",
    "MultilabelError": "errors",
    "MLP": "model",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'multilabel' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .checkpoint import TrainedModel, load_checkpoint, save_checkpoint
    from .config import TrainConfig
    from .devices import available_devices, describe_devices, resolve_device
    from .data import Dataset, Standardizer, guess_label_columns, load_csv, make_synthetic, read_csv
    from .engine import TrainResult, train
    from .errors import MultilabelError
    from .model import MLP
