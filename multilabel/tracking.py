"""Logging a run to the experiment trackers users already run: TensorBoard and MLflow. Off unless asked.

``Trackers.open(TrackerSpec(tensorboard=DIR, mlflow=URI), ...)`` gives the listeners ``worker.run_training`` calls:
``epoch(record)`` after every epoch, ``validation(live)`` on the epochs the engine offers the whole validation
split (``callbacks.LiveValidation``: the first, the last and some between, see callbacks.LIVE_EVERY_S), ``finish(result,
checkpoint)`` at the end and ``fail(message)`` on a failure.

- TensorBoard (``DIR/<run id>``): scalars per epoch (``loss/train``, ``loss/val``, ``f1/val_micro``, ``f1/val_macro``,
  ``hamming/val``, ``f1_per_label/<label>``, ``lr``), a precision-recall curve per label (``pr/<label>``) at the
  offered epochs and the best model's, and the hyperparameters with the best validation metrics (HParams plugin).
- MLflow (the tracking URI given, else MLflow's own default): every setting as a param, the same metrics per epoch
  (step = epoch), the best metrics, and the checkpoint and the ONNX model as artifacts under ``model/``.

Both packages are optional (requirements-extras.txt); asking for one that is missing is a one-line MultilabelError
saying what to install. A tracker that fails during training (a full disk, a server gone) stops logging with one
warning line on stderr; the run itself goes on and keeps everything it saved.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .config import TrainConfig
from .errors import MultilabelError

EXPERIMENT = "multilabel"  # the MLflow experiment runs go to, unless MLFLOW_EXPERIMENT_NAME names another
TENSORBOARD_HINT = "--tensorboard needs the tensorboard package; install it with: pip install tensorboard"
MLFLOW_HINT = "--mlflow needs MLflow; install it with: pip install mlflow-skinny (or pip install mlflow)"
# Summary metrics of an epoch record (engine.train's "val_<metric>" keys) and their TensorBoard tags.
SCALARS = {"train_loss": "loss/train", "val_loss": "loss/val", "val_micro_f1": "f1/val_micro",
           "val_macro_f1": "f1/val_macro", "val_hamming_loss": "hamming/val", "val_subset_accuracy": "subset/val",
           "lr": "lr"}


# The best epoch's metrics, logged at the end of a run.
BEST_METRICS = ("val_loss", "micro_f1", "macro_f1", "hamming_loss", "subset_accuracy")


@dataclass(frozen=True)
class TrackerSpec:
    """What to log to (picklable: it travels to a worker process). ``mlflow``: a tracking URI, "" for MLflow's
    default, None for no MLflow."""

    tensorboard: Optional[str] = None
    mlflow: Optional[str] = None

    def __bool__(self) -> bool:
        return self.tensorboard is not None or self.mlflow is not None


def check_installed(spec: TrackerSpec) -> None:
    """Raise the one-line install hint for an asked-for tracker whose package is missing (before any work)."""
    import importlib.util

    if spec.tensorboard is not None and importlib.util.find_spec("tensorboard") is None:
        raise MultilabelError(TENSORBOARD_HINT)
    if spec.mlflow is not None and importlib.util.find_spec("mlflow") is None:
        raise MultilabelError(MLFLOW_HINT)


def _per_label(record: dict[str, Any]) -> dict[str, float]:
    per_label = record.get("val_per_label") or {}
    return {name: float(values["f1"]) for name, values in per_label.items() if values.get("f1") is not None}


def _hparams(config: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in config.to_dict().items() if isinstance(v, (int, float, str, bool))}


class TensorBoardTracker:
    """Writes one TensorBoard run folder, ``<log_dir>/<run id>`` (so several runs compare side by side)."""

    name = "TensorBoard"

    def __init__(self, log_dir: str | os.PathLike, run_id: str, config: TrainConfig, label_names: list[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MultilabelError(TENSORBOARD_HINT) from None
        self.path = Path(log_dir) / run_id
        try:
            self.writer = SummaryWriter(log_dir=str(self.path))
        except OSError as exc:
            raise MultilabelError(f"--tensorboard {os.fspath(log_dir)!r} cannot be written ({exc.strerror or exc}); "
                                  "give a folder you can write to") from None
        self.config, self.label_names = config, list(label_names)

    def epoch(self, record: dict[str, Any]) -> None:
        step = int(record["epoch"])
        for key, tag in SCALARS.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, float(record[key]), step)
        for name, f1 in _per_label(record).items():
            self.writer.add_scalar(f"f1_per_label/{name}", f1, step)

    def validation(self, epoch: int, probs: np.ndarray, targets: np.ndarray) -> None:
        for j, name in enumerate(self.label_names):
            self.writer.add_pr_curve(f"pr/{name}", targets[:, j].astype(bool), probs[:, j], global_step=epoch)

    def finish(self, result: Any, checkpoint: Optional[Path], status: str) -> None:
        from torch.utils.tensorboard.summary import hparams

        best = result.best
        metrics = {f"hparam/{k}": float(best[k]) for k in BEST_METRICS if best.get(k) is not None}
        self.validation(int(best["epoch"]), result.val_probs, result.val_targets)  # the best model's curves
        # What SummaryWriter.add_hparams writes, but into this run's own event file (add_hparams would start a
        # second run folder named after the clock).
        for summary in hparams(_hparams(self.config), metrics):
            self.writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, int(best["epoch"]))
        self.close()

    def close(self) -> None:
        self.writer.close()


_METRIC_NAME = re.compile(r"[^\w\-. /:]")


class MlflowTracker:
    """One MLflow run in the experiment EXPERIMENT (or $MLFLOW_EXPERIMENT_NAME) at ``uri`` ("" or None: MLflow's
    default), created when the tracker opens, ended with the multilabel run's outcome."""

    name = "MLflow"

    def __init__(self, uri: Optional[str], run_id: str, name: str, config: TrainConfig,
                 description: dict[str, Any]) -> None:
        try:
            from mlflow import MlflowClient
            from mlflow.entities import Param
        except ImportError:
            raise MultilabelError(MLFLOW_HINT) from None
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # not "Creating initial MLflow database tables"
        try:
            self.client = MlflowClient(tracking_uri=uri or None)
            experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
            found = self.client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)
            run = self.client.create_run(experiment_id, run_name=name, tags={"multilabel.run_id": run_id})
            self.run_id = run.info.run_id
            params = {**_hparams(config), "data": str(description.get("name") or description.get("source", "")),
                      "rows": description.get("rows", "")}
            self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        except Exception as exc:  # any MLflow error (a bad URI, a server that does not answer): one line
            where = f"{uri!r}" if uri else "MLflow's default tracking URI"
            raise MultilabelError(f"--mlflow cannot log to {where} ({type(exc).__name__}: "
                                  f"{str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}); check "
                                  "the tracking URI (e.g. sqlite:///mlflow.db or http://host:5000)") from None
        self.config = config

    def _log(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)  # MLflow's own record of when: its charts' wall-time axis
        self.client.log_batch(self.run_id, metrics=[Metric(_METRIC_NAME.sub("_", k), v, now, step)
                                                    for k, v in values.items()])

    def epoch(self, record: dict[str, Any]) -> None:
        values = {key: float(record[key]) for key in SCALARS if record.get(key) is not None}
        values.update({f"val_f1/{name}": f1 for name, f1 in _per_label(record).items()})
        self._log(values, int(record["epoch"]))

    def validation(self, epoch: int, probs: np.ndarray, targets: np.ndarray) -> None:
        pass  # MLflow has no curve type; the per-epoch metrics carry the per-label F1

    def finish(self, result: Any, checkpoint: Optional[Path], status: str) -> None:
        from .export import export_onnx

        best = result.best
        values = {f"best_{k}": float(best[k]) for k in BEST_METRICS if best.get(k) is not None}
        values["best_epoch"] = float(best["epoch"])
        self._log(values, int(best["epoch"]))
        if checkpoint is not None and Path(checkpoint).is_file():
            self.client.log_artifact(self.run_id, str(checkpoint), "model")
        with tempfile.TemporaryDirectory() as folder:
            try:
                onnx_path = export_onnx(result.trained, Path(folder) / "model.onnx")
            except MultilabelError as exc:  # onnx not installed: the checkpoint is still logged
                sys.stderr.write(f"warning: the ONNX model was not logged to MLflow: {exc}\n")
            else:
                self.client.log_artifact(self.run_id, str(onnx_path), "model")
        self.client.set_terminated(self.run_id, "KILLED" if status == "stopped" else "FINISHED")

    def fail(self) -> None:
        self.client.set_terminated(self.run_id, "FAILED")


class Trackers:
    """The trackers of one run; a tracker whose call fails is dropped with one warning line (the run goes on)."""

    def __init__(self, trackers: list[Any]) -> None:
        self.trackers = trackers

    @classmethod
    def open(cls, spec: Optional[TrackerSpec], run_id: str, config: TrainConfig, label_names: list[str],
             description: dict[str, Any], name: Optional[str] = None) -> Trackers:
        """Open what ``spec`` asks for; MultilabelError (one line) if a package is missing or a target unusable."""
        if not spec:
            return cls([])
        check_installed(spec)
        opened: list[Any] = []
        try:
            if spec.tensorboard is not None:
                opened.append(TensorBoardTracker(spec.tensorboard, run_id, config, label_names))
            if spec.mlflow is not None:
                opened.append(MlflowTracker(spec.mlflow, run_id, name or run_id, config, description))
        except MultilabelError:
            cls(opened).fail()
            raise
        return cls(opened)

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def _each(self, method: str, *args: Any) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # logging must never end a run: say so once, stop using that tracker
                self.trackers.remove(tracker)
                kind = getattr(tracker, "name", type(tracker).__name__)
                sys.stderr.write(f"warning: logging to {kind} stopped ({type(exc).__name__}: "
                                 f"{str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}); "
                                 "the run goes on\n")

    def epoch(self, record: dict[str, Any]) -> None:
        self._each("epoch", record)

    def validation(self, live: Any) -> None:
        self._each("validation", int(live.epoch), live.probs, live.targets)

    def finish(self, result: Any, checkpoint: Optional[Path]) -> None:
        self._each("finish", result, checkpoint, result.outcome)

    def fail(self) -> None:
        for tracker in self.trackers:
            try:
                (tracker.fail if hasattr(tracker, "fail") else tracker.close)()
            except Exception:
                pass
