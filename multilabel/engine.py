"""train(): the one training loop behind the dashboard, the CLI, the tests and the benchmarks.

The loop reads top to bottom (``fit``): train an epoch, validate, keep the best weights, record, notify the
callbacks. Anything with a cadence or a decision of its own (pause, early stopping, checkpoints every N seconds,
live snapshots, the refit on all rows) is a ``callbacks.Callback`` passed in; stop is a flag checked between steps.
Why it is fast: the data is moved to the device once; each epoch draws a permutation and slices minibatches by index
(``stepper.Stepper``); the loss is summed on the device and read once per epoch. On CUDA the whole step can be
captured as one CUDA graph.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .callbacks import Callback, Checkpoint, EarlyStopping, LiveSnapshots, LiveValidation, Pause, Report
from .checkpoint import TrainedModel
from .config import TrainConfig
from .devices import resolve_device
from .data import Dataset, Standardizer
from .errors import MultilabelError
from .metrics import evaluate, probability_histograms, tune_thresholds
from .model import MLP
from .words import count
from .stepper import StopFlag, Stepper, check_shapes, pos_weights, resolve_auto

PROBE_ROWS = 32  # validation rows whose probabilities are reported each epoch (the live per-label view)
# eval_every=0 (auto): validation metrics (F1s, AUROC, subset accuracy, probe rows, histograms, network stats) every
# epoch unless their estimated cost exceeds this share of an epoch's estimated cost. The estimate is a function of
# the sizes and the device type alone (never the clock), so the same config, data and device get metrics on the same
# epochs. A row's forward and backward pass costs about 6 flops per weight. Measured costs per device type:
# - cpu (one thread): an optimizer step 0.4 ms whatever the batch, 30 flops/ns; the metrics 0.3 ms plus 0.14 us per
#   validation cell (row x label), mostly AUROC's sort;
# - cuda (an H100/H200): a graphed step about 0.1 ms (eager 1 ms), about 20 flops/ps; the metrics about 3 ms of
#   small kernels and transfers, plus 1 ns per cell.
# Losses come every epoch; the first and last epochs always get metrics.
METRICS_SHARE = 0.1
COST_MODEL = {  # device type -> (step us, graphed step us, flops per us, metrics us, metrics us per cell)
    "cpu": (400.0, 400.0, 30_000.0, 300.0, 0.14),
    "cuda": (1000.0, 100.0, 20_000_000.0, 3000.0, 0.001),
    "mps": (1000.0, 1000.0, 2_000_000.0, 3000.0, 0.01),
}
EVAL_BATCH_ROWS = 65536

EpochCallback = Callable[[dict[str, Any]], None]
StartCallback = Callable[[dict[str, Any]], None]
ProgressCallback = Callable[[dict[str, Any]], None]
CheckpointCallback = Callable[[TrainedModel], None]
ValidationCallback = Callable[[LiveValidation], None]


@dataclass
class TrainResult:
    """What a run produced: the trained model (best weights), its per-epoch history and final validation metrics."""

    trained: TrainedModel
    history: list[dict[str, Any]]
    best_epoch: int
    best: dict[str, Any]  # validation metrics of the best weights under the final thresholds
    outcome: str  # "completed" | "early_stopped" | "stopped"
    device: str
    duration_s: float
    info: dict[str, Any] = field(default_factory=dict)
    # The validation split as the best weights see it: (n_val, num_labels) float32 probabilities and 0/1 targets,
    # for per-label curves and threshold trade-offs after the run.
    val_probs: Optional[np.ndarray] = None
    val_targets: Optional[np.ndarray] = None
    resume: Optional[ResumeState] = None  # where the run ended, to continue it with more epochs


@dataclass
class ResumeState:
    """Where a run left off, enough to continue it exactly: ``train(config, data, resume=state)`` with more epochs
    gives the same weights and losses as one uninterrupted run of that length (same data, device type and config
    but ``epochs``; a cosine schedule stretches to the new length).

    Tensors are on the CPU; ``to_dict``/``from_dict`` give the plain form a checkpoint stores (weights_only-safe).
    """

    epoch: int
    model: dict[str, torch.Tensor]  # the last weights (the best ones are ``best_model``)
    optimizer: dict[str, Any]
    generator: torch.Tensor  # the batch order's generator
    rng: torch.Tensor  # torch's CPU RNG (dropout on the CPU)
    best_model: dict[str, torch.Tensor]
    best_val_loss: float
    best_epoch: int
    device_type: str
    data_digest: str
    # CUDA's RNG (dropout on a GPU). Restored for eager steps; a captured graph draws its dropout masks from offsets
    # it manages itself, so a graphed run with dropout continues with other (equally random) masks.
    cuda_rng: Optional[torch.Tensor] = None

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ResumeState:
        return cls(**{f: values[f] for f in cls.__dataclass_fields__ if f in values})


def data_digest(data: Dataset) -> str:
    """A short fingerprint of X and Y (their bytes), so a run is only continued on the data it was trained on."""
    digest = hashlib.blake2b(digest_size=12)
    for array in (data.X, data.Y):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def check_rows(data: Dataset) -> None:
    """Refuse data too small to train on (fewer than 2 rows) with one line naming it, before any run or trial is
    created: a run or search started on it could only fail."""
    n = data.num_rows
    if n < 2:
        name = data.description.get("name")
        what = f"{name!r} has" if name else "the data has"
        raise MultilabelError(f"{what} {count(n, 'data row')}; training needs at least 2 (one to train, one to "
                              "validate); add rows")


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle, then (train_idx, val_idx); at least one row on each side."""
    if n < 2:
        raise MultilabelError(f"the data has {count(n, 'row')}; training needs at least 2 (one to train, one to "
                              "validate)")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, int(round(n * val_fraction))), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def rows_split(n: int, val_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx) for the given validation row indices; at least one row on each side."""
    val_idx = np.unique(np.asarray(val_rows, dtype=np.int64))
    if len(val_idx) == 0 or len(val_idx) >= n or val_idx[0] < 0 or val_idx[-1] >= n:
        raise MultilabelError(f"validation rows must be 1 to {n - 1} distinct row indices in 0..{n - 1}")
    keep = np.ones(n, dtype=bool)
    keep[val_idx] = False
    return np.flatnonzero(keep), val_idx


def resolve_eval_every(config: TrainConfig, n_train: int, n_val: int, device_type: str = "cpu",
                       graphed: bool = False) -> int:
    """Epochs between validation metrics: ``config.eval_every``, or for 0 (auto) a choice from the sizes alone.

    Auto gives 1 unless the metrics' estimated cost (COST_MODEL) passes METRICS_SHARE of the epoch's estimated
    cost, then the smallest cadence that keeps them under it. Deterministic: no clock is read.
    """
    if config.eval_every > 0:
        return config.eval_every
    config = resolve_auto(config, n_train)  # batch_size 0 = auto
    step_us, graph_step_us, flops_per_us, metrics_us, cell_us = COST_MODEL.get(device_type, COST_MODEL["cpu"])
    steps = math.ceil(n_train / config.batch_size)
    weights = config.input_size * config.hidden_size + config.hidden_size * config.num_outputs
    epoch_us = steps * (graph_step_us if graphed else step_us) + n_train * 6 * weights / flops_per_us
    metrics_us += cell_us * n_val * config.num_outputs
    return max(1, math.ceil(metrics_us / (METRICS_SHARE * epoch_us)))


class Loop:
    """One run's state, set up from (config, data) and advanced by ``fit``; what the callbacks read.

    Callbacks read ``config`` (auto knobs resolved), ``data``, ``history``, ``best_epoch``, ``best_loss``,
    ``best_state`` (the best weights on the device), ``model`` (the current weights), ``first_epoch``, ``last``
    (the epoch being finished is the run's last), ``outcome`` ("completed" | "early_stopped" | "stopped"),
    ``t_train`` (perf_counter when the first epoch began) and ``Y_val_np``; they may set ``outcome`` or call
    ``end_before``. Raises MultilabelError for bad shapes or a resume state that does not fit.
    """

    def __init__(self, config: TrainConfig, data: Dataset, callbacks: Sequence[Callback],
                 stop: Optional[StopFlag] = None, resume: Optional[ResumeState] = None,
                 val_rows: Optional[np.ndarray] = None) -> None:
        config.validate()
        check_shapes(config, data)
        self.t_start = time.perf_counter()
        if val_rows is None:
            train_idx, val_idx = split_indices(data.num_rows, config.val_fraction, config.seed)
        else:
            train_idx, val_idx = rows_split(data.num_rows, val_rows)
        self.config = config = resolve_auto(config, len(train_idx))  # batch_size 0 = auto (see resolve_auto)
        self.data, self.stop, self.callbacks = data, stop, list(callbacks)
        self.device = device = resolve_device(config, len(train_idx))
        self.standardizer = Standardizer.fit(data.X[train_idx])
        X_all = self.standardizer.transform(data.X)

        # Everything on the device once.
        X_tr = torch.from_numpy(X_all[train_idx]).to(device)
        Y_tr = torch.from_numpy(data.Y[train_idx]).to(device)
        self.X_val = torch.from_numpy(X_all[val_idx]).to(device)
        self.Y_val_np = data.Y[val_idx]
        self.Y_val = torch.from_numpy(self.Y_val_np).to(device)
        self.Y_val_i8 = self.Y_val_np.astype(np.int8)

        torch.manual_seed(config.seed)
        self.model = MLP(config.input_size, config.hidden_size, config.num_outputs, config.dropout,
                         config.input_noise).to(device)
        pw = torch.from_numpy(pos_weights(data.Y[train_idx])).to(device) if config.pos_weight == "auto" else None
        self.loss_fn = nn.BCEWithLogitsLoss(pos_weight=pw)
        self.stepper = Stepper(self.model, self.loss_fn, X_tr, Y_tr, config, device)
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(config.seed)
        self.digest = data_digest(data)
        self.first_epoch = 1
        self.best_loss, self.best_epoch = math.inf, 0
        self.best_state = {name: value.detach().clone() for name, value in self.model.state_dict().items()}
        if resume is not None:
            self._resume(resume)

        self.n_train, self.n_probe = len(train_idx), min(PROBE_ROWS, len(val_idx))
        self.steps_per_epoch = math.ceil(self.n_train / config.batch_size)
        self.eval_every = resolve_eval_every(config, self.n_train, len(val_idx), device.type,
                                             self.stepper.graph is not None)
        self.info = {"device": str(device), "n_train": self.n_train, "n_val": len(val_idx),
                     "batch_size": config.batch_size, "cuda_graph": self.stepper.graph is not None,
                     "eval_every": self.eval_every, "feature_names": list(data.feature_names),
                     "label_names": list(data.label_names),
                     "probe_targets": self.Y_val_np[:self.n_probe].astype(int).tolist()}
        self.history: list[dict[str, Any]] = []
        self.outcome, self.last, self.ended = "completed", False, False
        self.epoch, self.lr = self.first_epoch - 1, config.learning_rate
        self.t_train = math.nan
        self._progress_sinks = [cb for cb in self.callbacks if cb.wants_progress]

    def _resume(self, resume: ResumeState) -> None:
        device = self.device
        if resume.device_type != device.type:
            raise MultilabelError(f"this run trained on {resume.device_type} and can only continue there (now "
                                  f"{device.type}); set device to {resume.device_type}")
        if resume.data_digest != self.digest:
            raise MultilabelError("the data differs from the data this run was trained on; continue it on the "
                                  "same rows and columns")
        if resume.epoch >= self.config.epochs:
            raise MultilabelError(f"the run already has {resume.epoch} epochs; set epochs above {resume.epoch} to "
                                  "continue it")
        with torch.no_grad():
            for name, value in self.model.state_dict().items():
                value.copy_(resume.model[name])
        self.stepper.load_optimizer_state(resume.optimizer)
        self.gen.set_state(resume.generator)
        torch.set_rng_state(resume.rng)
        if device.type == "cuda" and resume.cuda_rng is not None and self.stepper.graph is None:
            torch.cuda.set_rng_state(resume.cuda_rng, device)
        self.first_epoch = resume.epoch + 1
        self.best_loss, self.best_epoch = resume.best_val_loss, resume.best_epoch
        for name, value in self.best_state.items():
            value.copy_(resume.best_model[name])

    def notify(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def progress(self, progress: dict[str, Any]) -> None:
        """Hand ``progress`` to the callbacks that listen to progress."""
        for callback in self._progress_sinks:
            callback.on_progress(self, progress)

    def stop_requested(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def end_before(self, epoch: int) -> None:
        """End the run as "stopped" without training ``epoch`` (a stop that came while the run was paused)."""
        self.outcome, self.epoch, self.ended = "stopped", epoch - 1, True

    def train_epoch(self, epoch: int) -> tuple[torch.Tensor, int]:
        """One pass over the training rows in a fresh seeded order: (mean loss, a 0-d device tensor; rows trained,
        fewer than n_train when a stop came mid-epoch)."""
        config = self.config
        self.lr = config.learning_rate
        if config.lr_schedule == "cosine":
            self.lr = config.learning_rate * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config.epochs))
            self.stepper.set_lr(self.lr)
        self.model.train()
        perm = torch.randperm(self.n_train, device=self.device, generator=self.gen)
        progress = None if not self._progress_sinks else (
            lambda step, steps: self.progress({"epoch": epoch, "step": step, "steps": steps}))
        return self.stepper.epoch(perm, self.stop, progress)

    def validate(self, epoch: int, train_loss_t: torch.Tensor, rows_done: int
                 ) -> tuple[dict[str, Any], torch.Tensor]:
        """Validate the epoch's weights, keep them if best, decide whether the run ends here: (the epoch's record
        without metrics or timing, validation probabilities (n_val, num_labels) on the device)."""
        val_loss_t, val_probs = _validate(self.model, self.loss_fn, self.X_val, self.Y_val)
        train_loss, val_loss = torch.stack([train_loss_t, val_loss_t]).tolist()  # the one host sync per epoch
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise MultilabelError(f"training diverged at epoch {epoch}: the loss became {train_loss}; lower the "
                                  f"learning rate (now {self.config.learning_rate:g}) or check the data for extreme "
                                  "values")
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch = val_loss, epoch
            for name, value in self.model.state_dict().items():
                self.best_state[name].copy_(value)
        if self.stop_requested():
            self.outcome = "stopped"
        self.notify("on_validated", epoch, val_probs)  # early stopping decides here
        self.last = self.outcome != "completed" or epoch == self.config.epochs
        record = {"epoch": epoch, "epochs": self.config.epochs, "train_loss": train_loss, "val_loss": val_loss,
                  "best_epoch": self.best_epoch, "best_val_loss": self.best_loss, "lr": self.lr}
        if rows_done < self.n_train:
            record.update(partial=True, rows_done=rows_done)
        return record, val_probs

    def evaluates(self, epoch: int) -> bool:
        """Whether this epoch gets validation metrics: the first, the last and every eval_every-th."""
        return epoch == self.first_epoch or self.last or epoch % self.eval_every == 0

    def add_metrics(self, record: dict[str, Any], val_probs: torch.Tensor) -> torch.Tensor:
        """Add the validation metrics, probe rows, histograms and network stats to ``record``; return the (hidden,)
        alive-unit mask. Computed where the probabilities are (the GPU on CUDA): a few small kernels and one transfer
        each."""
        metrics = evaluate(val_probs, self.Y_val, [0.5] * self.config.num_outputs, self.data.label_names)
        record.update({f"val_{k}": v for k, v in metrics.items()})
        record["probe_probs"] = [[round(p, 4) for p in row] for row in val_probs[:self.n_probe].tolist()]
        record["prob_hist"] = probability_histograms(val_probs, self.Y_val)
        alive = _alive_units(self.model, self.X_val)
        record["net"] = network_stats(self.model, self.X_val, alive)
        return alive

    def trained_model(self, weights: nn.Module, thresholds: list[float], metrics: dict[str, Any]) -> TrainedModel:
        return TrainedModel(model=weights, config=self.config, feature_names=list(self.data.feature_names),
                            label_names=list(self.data.label_names), standardizer=self.standardizer,
                            thresholds=thresholds, metrics=metrics)

    def result(self) -> TrainResult:
        """The run's result: the best weights with their thresholds and metrics, and where the run ended."""
        model, device, config = self.model, self.device, self.config
        resume_state = ResumeState(
            epoch=self.epoch, model={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            optimizer=_to_cpu(self.stepper.optimizer.state_dict()), generator=self.gen.get_state(),
            rng=torch.get_rng_state(), best_model={k: v.cpu().clone() for k, v in self.best_state.items()},
            best_val_loss=self.best_loss, best_epoch=self.best_epoch, device_type=device.type,
            data_digest=self.digest, cuda_rng=torch.cuda.get_rng_state(device) if device.type == "cuda" else None)
        model.load_state_dict(self.best_state)
        _, val_probs_t = _validate(model, self.loss_fn, self.X_val, self.Y_val)
        val_probs = val_probs_t.cpu()
        thresholds = (tune_thresholds(val_probs.numpy(), self.Y_val_np) if config.threshold_mode == "tuned"
                      else [0.5] * config.num_outputs)
        best = evaluate(val_probs, torch.from_numpy(self.Y_val_np), thresholds, self.data.label_names)
        best = {"val_loss": self.best_loss, **best, "epoch": self.best_epoch, "thresholds": thresholds}
        return TrainResult(trained=self.trained_model(model, thresholds, best), history=self.history,
                           best_epoch=self.best_epoch, best=best, outcome=self.outcome, device=str(device),
                           duration_s=time.perf_counter() - self.t_start, info=self.info,
                           val_probs=val_probs.numpy(), val_targets=self.Y_val_np.copy(), resume=resume_state)


def fit(config: TrainConfig, data: Dataset, callbacks: Sequence[Callback] = (), stop: Optional[StopFlag] = None,
        resume: Optional[ResumeState] = None, val_rows: Optional[np.ndarray] = None) -> TrainResult:
    """The training loop: train an epoch, validate, record, notify ``callbacks`` (see callbacks.py for the hooks).

    ``stop`` (anything with ``is_set()``) is checked between steps every stepper.STOP_CHECK_S: a stop mid-epoch
    ends that epoch early (its record has ``partial: True``), validates, and ends the run as "stopped". The best
    weights by validation loss are kept. ``config.patience`` adds an EarlyStopping. ``resume`` continues a run from
    its ResumeState up to ``config.epochs``; ``val_rows`` replaces the seeded split (see ``train``).
    """
    if config.patience:
        callbacks = [*callbacks, EarlyStopping(config.patience)]
    loop = Loop(config, data, callbacks, stop, resume, val_rows)
    loop.notify("on_train_begin", loop.info)
    loop.t_train = time.perf_counter()
    for epoch in range(loop.first_epoch, loop.config.epochs + 1):
        loop.epoch = epoch
        loop.notify("on_epoch_begin", epoch)  # a pause waits here
        if loop.ended:
            break
        t0 = time.perf_counter()
        train_loss_t, rows_done = loop.train_epoch(epoch)
        record, val_probs = loop.validate(epoch, train_loss_t, rows_done)
        if loop.evaluates(epoch):
            alive = loop.add_metrics(record, val_probs)
            loop.notify("on_evaluated", epoch, val_probs, alive)
        duration = time.perf_counter() - t0  # the whole epoch as the user gets it: steps, validation, metrics
        record.update(duration_s=duration, samples_per_s=rows_done / max(duration, 1e-9))
        loop.history.append(record)
        loop.notify("on_epoch_end", record)
        if loop.last:
            break
    result = loop.result()
    for callback in loop.callbacks:
        result = callback.on_train_end(loop, result) or result
    return result


def train(config: TrainConfig, data: Dataset, on_epoch: Optional[EpochCallback] = None,
          stop: Optional[StopFlag] = None, on_start: Optional[StartCallback] = None,
          on_progress: Optional[ProgressCallback] = None,
          on_checkpoint: Optional[CheckpointCallback] = None, pause: Optional[StopFlag] = None,
          resume: Optional[ResumeState] = None,
          on_validation: Optional[ValidationCallback] = None,
          val_rows: Optional[np.ndarray] = None, callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train an MLP on ``data`` (X: (n, input_size) float32, Y: (n, num_outputs) 0/1 float32): ``fit`` with the
    keyword functions as callbacks (all optional, all called in the calling thread), then ``callbacks``:
    - ``on_start(info)`` once before the first epoch: device, split sizes, eval_every, names, probe rows' labels;
    - ``on_epoch(record)`` after every epoch with one JSON-serializable dict;
    - ``on_progress({"epoch", "step", "steps"})`` inside an epoch, at most every stepper.PROGRESS_S
      (these three: ``callbacks.Report``);
    - ``pause``: while it is set the run waits between epochs (``callbacks.Pause``; a stop still ends it);
    - ``on_validation(live)``: ``callbacks.LiveSnapshots`` at its default cadence;
    - ``on_checkpoint(trained)``: ``callbacks.Checkpoint`` at its default cadence (callbacks.CHECKPOINT_EVERY_S).
    A caller that sets a cadence passes the callback itself in ``callbacks``. ``stop``, ``resume``: see ``fit``.
    ``val_rows`` (row indices) replaces the seeded split: those rows validate, every other row trains (the search's
    disjoint cross-validation folds, ``search.fold_rows``).
    Raises MultilabelError for bad shapes, a diverging loss or a resume state that does not fit.
    """
    listeners: list[Callback] = [Report(on_start, on_epoch, on_progress)]
    if pause is not None:
        listeners.append(Pause(pause))
    if on_validation is not None:
        listeners.append(LiveSnapshots(on_validation))
    if on_checkpoint is not None:
        listeners.append(Checkpoint(on_checkpoint))
    return fit(config, data, [*listeners, *callbacks], stop=stop, resume=resume, val_rows=val_rows)


def last_evaluated(history: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The latest epoch record that carries validation metrics (see resolve_eval_every), or None."""
    return next((record for record in reversed(history) if "val_per_label" in record), None)


def _to_cpu(value: Any) -> Any:
    """A copy of a nested optimizer state with every tensor on the CPU (tensor learning rates become floats)."""
    if torch.is_tensor(value):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: (float(v) if k == "lr" and torch.is_tensor(v) else _to_cpu(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


@torch.no_grad()
def _alive_units(model: MLP, X_val: torch.Tensor) -> torch.Tensor:
    """(hidden,) bool on the model's device: True for a hidden ReLU positive on at least one row of ``X_val``."""
    first = model.net[0]
    alive = torch.zeros(first.out_features, dtype=torch.bool, device=X_val.device)
    for s in range(0, X_val.shape[0], EVAL_BATCH_ROWS):
        alive |= (torch.addmm(first.bias, X_val[s:s + EVAL_BATCH_ROWS], first.weight.T) > 0).any(dim=0)
    return alive


@torch.no_grad()
def network_stats(model: MLP, X_val: torch.Tensor, alive: Optional[torch.Tensor] = None) -> dict[str, Any]:
    """What the net looks like inside: per layer ("hidden", "output") the weight matrix's Frobenius norm and its last
    step's gradient norm, and the share of hidden ReLUs that output 0 on every validation row (dead units).

    One small host transfer. ``X_val``: (n_val, input_size) standardized, on the model's device; ``alive``: the
    (hidden,) mask of ``_alive_units`` when the caller has it already.
    """
    first, last = model.net[0], model.net[-1]
    grads = [layer.weight.grad for layer in (first, last)]
    zero = torch.zeros((), device=X_val.device)
    if alive is None:
        alive = _alive_units(model, X_val)
    values = torch.stack([first.weight.norm(), last.weight.norm(),
                          *(g.norm() if g is not None else zero for g in grads),
                          1 - alive.float().mean()]).tolist()
    return {"layers": ["hidden", "output"], "weight_norm": values[0:2], "grad_norm": values[2:4],
            "dead_relu": values[4]}


@torch.no_grad()
def _validate(model: nn.Module, loss_fn: nn.Module, X: torch.Tensor, Y: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss as a 0-d device tensor, probabilities (n, num_labels) on the device)."""
    model.eval()
    logits = torch.cat([model(X[s:s + EVAL_BATCH_ROWS]) for s in range(0, X.shape[0], EVAL_BATCH_ROWS)])
    return loss_fn(logits, Y), torch.sigmoid(logits)
