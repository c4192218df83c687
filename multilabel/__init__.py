"""multilabel: train and use multi-label classifiers (one sigmoid per label), headless or behind a dashboard.

The public API, listed explicitly; nothing here imports Streamlit.
"""

from .checkpoint import TrainedModel, load_checkpoint, save_checkpoint
from .config import TrainConfig, available_devices, describe_devices, resolve_device
from .data import Dataset, Standardizer, guess_label_columns, load_csv, make_synthetic, read_csv
from .engine import TrainResult, train
from .errors import MultilabelError
from .model import MLP

__all__ = [
    "MLP", "Dataset", "MultilabelError", "Standardizer", "TrainConfig", "TrainResult", "TrainedModel",
    "available_devices", "describe_devices", "guess_label_columns", "load_checkpoint", "load_csv",
    "make_synthetic", "read_csv", "resolve_device", "save_checkpoint", "train",
]
