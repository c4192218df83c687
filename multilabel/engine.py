"""train(): the one training loop behind the dashboard, the CLI, the tests and the benchmarks.

Shape of the loop (why it is fast): the data is moved to the device once; each epoch draws a permutation and
slices minibatches by index (no DataLoader for tensors already in memory); the loss is summed on the device and
read once per epoch (no host sync per step). On CUDA the whole step can be captured as one CUDA graph.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import numpy as np
import torch
from torch import nn

from .checkpoint import TrainedModel
from .config import TrainConfig
from .devices import resolve_device
from .data import Dataset, Standardizer
from .errors import MultilabelError
from .metrics import evaluate, probability_histograms, tune_thresholds
from .model import MLP

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
POS_WEIGHT_CLIP = (0.05, 50.0)
# Stop is checked between optimizer steps this often (by time: reading a clock costs ~50 ns, an Event ~200 ns), so
# Stop takes effect within about this long plus one validation pass, even inside a long epoch.
STOP_CHECK_S = 0.1
PROGRESS_S = 0.5  # on_progress at most this often inside an epoch (never in shorter epochs)
PAUSE_POLL_S = 0.05  # how often a paused run looks at its pause and stop flags
# on_checkpoint: the best weights so far are offered at most this often (seconds; the environment variable lets
# tests and impatient users change it), and only while offering them has cost at most CHECKPOINT_SHARE of the time.
CHECKPOINT_EVERY_S = float(os.environ.get("MULTILABEL_CHECKPOINT_EVERY_S", "30"))
CHECKPOINT_SHARE = 0.05
# on_validation (the live per-label and network views): offered on the first and last evaluated epochs and, between
# them, on evaluated epochs at most every LIVE_EVERY_S seconds and only while the offers have cost at most LIVE_SHARE
# of the training time so far. The clock decides only which epochs a live viewer gets to see, never what is stored
# in the epoch records (a test pins that the records are the same with and without the callback).
LIVE_EVERY_S = float(os.environ.get("MULTILABEL_LIVE_EVERY_S", "0.5"))
LIVE_SHARE = 0.05
# The live snapshot carries the weight matrices (for the picture of the net) only up to this many weights.
LIVE_WEIGHTS_MAX = 1_000_000

EpochCallback = Callable[[dict[str, Any]], None]
StartCallback = Callable[[dict[str, Any]], None]
ProgressCallback = Callable[[dict[str, Any]], None]
CheckpointCallback = Callable[[TrainedModel], None]


@dataclass
class LiveValidation:
    """One evaluated epoch as a live viewer sees it: the whole validation split's probabilities under the epoch's
    weights (not the best ones) and what the net looks like inside.

    ``probs``: (n_val, num_labels) float32; ``targets``: (n_val, num_labels) int8 0/1; ``alive``: (hidden,) bool,
    True for a hidden ReLU that is positive on at least one validation row; ``weights``: the two weight matrices,
    (hidden, input) and (num_labels, hidden) float32, or None for a net with more than LIVE_WEIGHTS_MAX weights.
    All arrays are host copies the callback may keep.
    """

    epoch: int
    probs: np.ndarray
    targets: np.ndarray
    alive: np.ndarray
    weights: Optional[tuple[np.ndarray, np.ndarray]] = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The snapshot as named arrays (what ``RunStore.save_live_validation`` writes)."""
        out = {"epoch": np.asarray(self.epoch, dtype=np.int64), "probs": self.probs, "targets": self.targets,
               "alive": self.alive}
        if self.weights is not None:
            out["w_hidden"], out["w_output"] = self.weights
        return out


ValidationCallback = Callable[[LiveValidation], None]


class StopFlag(Protocol):
    """What ``train`` needs of a stop signal: threading.Event and multiprocessing.Event both qualify."""

    def is_set(self) -> bool: ...


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
        raise MultilabelError(f"{what} {n} data row(s); training needs at least 2 (one to train, one to validate); "
                              "add rows")


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle, then (train_idx, val_idx); at least one row on each side."""
    if n < 2:
        raise MultilabelError(f"the data has {n} row(s); training needs at least 2 (one to train, one to validate)")
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


def pos_weights(Y_train: np.ndarray) -> np.ndarray:
    """negatives / positives per label, clipped to POS_WEIGHT_CLIP (a label with no positives gets the maximum)."""
    pos = Y_train.sum(axis=0)
    neg = Y_train.shape[0] - pos
    ratio = np.where(pos > 0, neg / np.maximum(pos, 1), POS_WEIGHT_CLIP[1])
    return np.clip(ratio, *POS_WEIGHT_CLIP).astype(np.float32)


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


def check_shapes(config: TrainConfig, data: Dataset) -> None:
    if data.X.shape[1] != config.input_size:
        raise MultilabelError(f"input_size is {config.input_size} but the data has {data.X.shape[1]} feature "
                              f"columns; set input_size to {data.X.shape[1]}")
    if data.Y.shape[1] != config.num_outputs:
        raise MultilabelError(f"num_outputs is {config.num_outputs} but the data has {data.Y.shape[1]} label "
                              f"columns; set num_outputs to {data.Y.shape[1]}")


def optimizer_kernel(device: torch.device) -> dict[str, Any]:
    """Extra keyword arguments of Adam / AdamW on ``device``: the fused kernel on a CPU (one pass over each
    parameter instead of a dozen elementwise ops: an emotions-sized training run 0.82 -> 0.69 s on one thread, the
    same best validation loss to 8 digits), torch's own default elsewhere."""
    return {"fused": True} if device.type == "cpu" else {}


class _Stepper:
    """One optimizer step per call on a batch of row indices; losses summed on the device, never synced here."""

    def __init__(self, model: nn.Module, loss_fn: nn.Module, X: torch.Tensor, Y: torch.Tensor,
                 config: TrainConfig, device: torch.device) -> None:
        self.model, self.loss_fn, self.X, self.Y = model, loss_fn, X, Y
        self.batch_size = config.batch_size
        self.loss_sum = torch.zeros((), device=device)
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        use_graph = device.type == "cuda" and config.cuda_graph != "off" and X.shape[0] >= config.batch_size
        optimizer = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        # A captured graph bakes a float learning rate into its kernels; a tensor one can change between replays.
        lr: float | torch.Tensor = (torch.tensor(config.learning_rate, device=device)
                                    if use_graph and config.lr_schedule != "constant" else config.learning_rate)
        self.optimizer = optimizer(model.parameters(), lr=lr, weight_decay=config.weight_decay, capturable=use_graph,
                                   **optimizer_kernel(device))
        if use_graph:
            self._capture(device)

    def _eager(self, idx: torch.Tensor) -> None:
        loss = self.loss_fn(self.model(self.X.index_select(0, idx)), self.Y.index_select(0, idx))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.loss_sum.add_(loss.detach() * idx.numel())

    def _capture(self, device: torch.device) -> None:
        """Capture index_select + forward + loss + backward + Adam step as one graph (full batches only).

        Warm-up steps are needed before capture; they would move the weights, so the weights and Adam's state
        are put back afterwards and the graphed run starts from the same point as an eager one.
        """
        start = copy.deepcopy(self.model.state_dict())
        self.static_idx = torch.arange(self.batch_size, device=device)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self._eager(self.static_idx)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            loss = self.loss_fn(self.model(self.X.index_select(0, self.static_idx)),
                                self.Y.index_select(0, self.static_idx))
            loss.backward()
            self.optimizer.step()
            self.loss_sum.add_(loss.detach() * self.batch_size)
        with torch.no_grad():
            for name, value in self.model.state_dict().items():
                value.copy_(start[name])
            for state in self.optimizer.state.values():
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()  # Adam's fresh state is all zeros, step count included
        self.graph = graph

    def load_optimizer_state(self, state: dict[str, Any]) -> None:
        """Restore a saved optimizer state; into the captured graph's own tensors when there is a graph."""
        if self.graph is None:
            self.optimizer.load_state_dict(state)
            return
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        with torch.no_grad():
            for index, saved in state["state"].items():
                for key, value in saved.items():
                    self.optimizer.state[params[int(index)]][key].copy_(value)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            if torch.is_tensor(group["lr"]):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def epoch(self, perm: torch.Tensor, stop: Optional[StopFlag] = None,
              on_progress: Optional[Callable[[int, int], None]] = None) -> tuple[torch.Tensor, int]:
        """Run one pass over ``perm`` (row indices), or the part of it before ``stop`` was seen.

        Returns (mean loss over the rows trained as a 0-d device tensor, rows trained). ``stop`` is checked every
        STOP_CHECK_S and ``on_progress(steps_done, steps)`` called every PROGRESS_S, both by time.
        """
        self.loss_sum.zero_()
        n, bs = perm.numel(), self.batch_size
        steps = math.ceil(n / bs)
        watch = stop is not None or on_progress is not None
        t0 = time.perf_counter()
        next_check, next_progress = t0 + STOP_CHECK_S, t0 + PROGRESS_S
        done = n
        for step, start in enumerate(range(0, n, bs)):
            if watch and step:
                now = time.perf_counter()
                if now >= next_check:
                    next_check = now + STOP_CHECK_S
                    if stop is not None and stop.is_set():
                        done = start
                        break
                    if on_progress is not None and now >= next_progress:
                        next_progress = now + PROGRESS_S
                        on_progress(step, steps)
            idx = perm[start:start + bs]
            if self.graph is not None and idx.numel() == bs:
                self.static_idx.copy_(idx)
                self.graph.replay()
            else:
                self._eager(idx)  # the last partial batch runs eagerly (same math, no graph)
        return self.loss_sum / done, done


def train(config: TrainConfig, data: Dataset, on_epoch: Optional[EpochCallback] = None,
          stop: Optional[StopFlag] = None, on_start: Optional[StartCallback] = None,
          on_progress: Optional[ProgressCallback] = None,
          on_checkpoint: Optional[CheckpointCallback] = None, pause: Optional[StopFlag] = None,
          resume: Optional[ResumeState] = None,
          on_validation: Optional[ValidationCallback] = None,
          val_rows: Optional[np.ndarray] = None) -> TrainResult:
    """Train an MLP on ``data`` (X: (n, input_size) float32, Y: (n, num_outputs) 0/1 float32).

    Callbacks (all optional, all called in the calling thread):
    - ``on_start(info)`` once before the first epoch: device, split sizes, eval_every, names, probe rows' labels.
    - ``on_epoch(record)`` after every epoch with one JSON-serializable dict (see the module's README).
    - ``on_progress({"epoch", "step", "steps"})`` inside an epoch, at most every PROGRESS_S.
    - ``on_checkpoint(trained)`` with a CPU copy of the best weights so far, at most every CHECKPOINT_EVERY_S (for
      saving during training, so that a killed process keeps a usable model); never for the final result.
    - ``on_validation(live)`` with a LiveValidation (the whole validation split's probabilities, the alive hidden
      units and the weights) on evaluated epochs: always the first and the last, between them at most every
      LIVE_EVERY_S and within LIVE_SHARE of the time (see there). It changes nothing in the records.
    ``stop`` (anything with ``is_set()``) is checked between steps every STOP_CHECK_S: a stop mid-epoch ends that
    epoch early (its record has ``partial: True``), validates, and ends the run as "stopped". The best weights by
    validation loss are kept. While ``pause`` is set the run waits between epochs (optimizer state intact; a
    stop still ends it). ``resume`` continues a run from its ResumeState (see there) up to ``config.epochs``.
    ``val_rows`` (row indices) replaces the seeded split: those rows validate, every other row trains (the search's
    disjoint cross-validation folds, ``search.fold_rows``).
    Raises MultilabelError for bad shapes, a diverging loss or a resume state that does not fit.
    """
    config.validate()
    check_shapes(config, data)
    t_start = time.perf_counter()
    if val_rows is None:
        train_idx, val_idx = split_indices(data.num_rows, config.val_fraction, config.seed)
    else:
        train_idx, val_idx = rows_split(data.num_rows, val_rows)
    config = resolve_auto(config, len(train_idx))  # batch_size 0 = auto (quality: see resolve_auto)
    device = resolve_device(config, len(train_idx))
    standardizer = Standardizer.fit(data.X[train_idx])
    X_all = standardizer.transform(data.X)

    # Everything on the device once.
    X_tr = torch.from_numpy(X_all[train_idx]).to(device)
    Y_tr = torch.from_numpy(data.Y[train_idx]).to(device)
    X_val = torch.from_numpy(X_all[val_idx]).to(device)
    Y_val_np = data.Y[val_idx]
    Y_val = torch.from_numpy(Y_val_np).to(device)

    torch.manual_seed(config.seed)
    model = MLP(config.input_size, config.hidden_size, config.num_outputs, config.dropout,
                config.input_noise).to(device)
    pw = torch.from_numpy(pos_weights(data.Y[train_idx])).to(device) if config.pos_weight == "auto" else None
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pw)
    stepper = _Stepper(model, loss_fn, X_tr, Y_tr, config, device)
    gen = torch.Generator(device=device)
    gen.manual_seed(config.seed)
    digest = data_digest(data)
    first_epoch = 1
    if resume is not None:
        if resume.device_type != device.type:
            raise MultilabelError(f"this run trained on {resume.device_type} and can only continue there (now "
                                  f"{device.type}); set device to {resume.device_type}")
        if resume.data_digest != digest:
            raise MultilabelError("the data differs from the data this run was trained on; continue it on the "
                                  "same rows and columns")
        if resume.epoch >= config.epochs:
            raise MultilabelError(f"the run already has {resume.epoch} epochs; set epochs above {resume.epoch} to "
                                  "continue it")
        with torch.no_grad():
            for name, value in model.state_dict().items():
                value.copy_(resume.model[name])
        stepper.load_optimizer_state(resume.optimizer)
        gen.set_state(resume.generator)
        torch.set_rng_state(resume.rng)
        if device.type == "cuda" and resume.cuda_rng is not None and stepper.graph is None:
            torch.cuda.set_rng_state(resume.cuda_rng, device)
        first_epoch = resume.epoch + 1

    n_train, n_probe = len(train_idx), min(PROBE_ROWS, len(val_idx))
    eval_every = resolve_eval_every(config, n_train, len(val_idx), device.type, stepper.graph is not None)
    info = {"device": str(device), "n_train": n_train, "n_val": len(val_idx), "batch_size": config.batch_size,
            "cuda_graph": stepper.graph is not None,
            "eval_every": eval_every, "feature_names": list(data.feature_names),
            "label_names": list(data.label_names), "probe_targets": Y_val_np[:n_probe].astype(int).tolist()}
    if on_start is not None:
        on_start(info)

    fixed = [0.5] * config.num_outputs

    def trained_model(weights: nn.Module, thresholds: list[float], metrics: dict[str, Any]) -> TrainedModel:
        return TrainedModel(model=weights, config=config, feature_names=list(data.feature_names),
                            label_names=list(data.label_names), standardizer=standardizer, thresholds=thresholds,
                            metrics=metrics)

    history: list[dict[str, Any]] = []
    best_loss, best_epoch = math.inf, 0
    best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
    if resume is not None:
        best_loss, best_epoch = resume.best_val_loss, resume.best_epoch
        for name, value in best_state.items():
            value.copy_(resume.best_model[name])
    best_probs: Optional[torch.Tensor] = None  # validation probabilities of the best weights (tuned thresholds)
    outcome = "completed"
    t_train = time.perf_counter()
    offered_epoch, last_offer_s, offer_cost_s = 0, t_train, 0.0
    last_live_s, live_cost_s, live_offers = t_train, 0.0, 0
    Y_val_i8 = Y_val_np.astype(np.int8)
    epoch = first_epoch - 1
    for epoch in range(first_epoch, config.epochs + 1):
        if pause is not None and pause.is_set():
            if on_progress is not None:
                on_progress({"epoch": epoch, "step": 0, "steps": math.ceil(n_train / config.batch_size),
                             "paused": True})
            while pause.is_set() and not (stop is not None and stop.is_set()):
                time.sleep(PAUSE_POLL_S)
            if history and stop is not None and stop.is_set():
                # Stopped while paused: the run ends at the epoch it was paused after, training nothing more.
                # (Paused before its first epoch, it still trains a step, so a run always has an epoch.)
                outcome, epoch = "stopped", epoch - 1
                break
        t0 = time.perf_counter()
        lr = config.learning_rate
        if config.lr_schedule == "cosine":
            lr = config.learning_rate * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config.epochs))
            stepper.set_lr(lr)
        model.train()
        perm = torch.randperm(n_train, device=device, generator=gen)
        progress = None if on_progress is None else (
            lambda step, steps, epoch=epoch: on_progress({"epoch": epoch, "step": step, "steps": steps}))
        train_loss_t, rows_done = stepper.epoch(perm, stop, progress)
        val_loss_t, val_probs_t = _validate(model, loss_fn, X_val, Y_val)
        train_loss, val_loss = torch.stack([train_loss_t, val_loss_t]).tolist()  # the one host sync per epoch
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise MultilabelError(f"training diverged at epoch {epoch}: the loss became {train_loss}; lower the "
                                  f"learning rate (now {config.learning_rate:g}) or check the data for extreme values")
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            for name, value in model.state_dict().items():
                best_state[name].copy_(value)
            if on_checkpoint is not None and config.threshold_mode == "tuned":
                best_probs = val_probs_t.clone()
        if stop is not None and stop.is_set():
            outcome = "stopped"
        elif config.patience and epoch - best_epoch >= config.patience:
            outcome = "early_stopped"
        last = outcome != "completed" or epoch == config.epochs
        record = {"epoch": epoch, "epochs": config.epochs, "train_loss": train_loss, "val_loss": val_loss,
                  "best_epoch": best_epoch, "best_val_loss": best_loss, "lr": lr}
        if rows_done < n_train:
            record.update(partial=True, rows_done=rows_done)
        if epoch == first_epoch or last or epoch % eval_every == 0:
            # Where the probabilities are (the GPU on CUDA): a few small kernels and one transfer each.
            metrics = evaluate(val_probs_t, Y_val, fixed, data.label_names)
            record.update({f"val_{k}": v for k, v in metrics.items()})
            record["probe_probs"] = [[round(p, 4) for p in row] for row in val_probs_t[:n_probe].tolist()]
            record["prob_hist"] = probability_histograms(val_probs_t, Y_val)
            alive = _alive_units(model, X_val)
            record["net"] = network_stats(model, X_val, alive)
            now = time.perf_counter()
            if on_validation is not None and (epoch == first_epoch or last or (
                    now - last_live_s >= LIVE_EVERY_S and live_cost_s <= LIVE_SHARE * (now - t_train))):
                on_validation(_live_validation(epoch, model, val_probs_t, Y_val_i8, alive))
                last_live_s = time.perf_counter()
                live_cost_s += last_live_s - now
                live_offers += 1
        duration = time.perf_counter() - t0  # the whole epoch as the user gets it: steps, validation, metrics
        record.update(duration_s=duration, samples_per_s=rows_done / max(duration, 1e-9))
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if last:
            break
        now = time.perf_counter()
        if (on_checkpoint is not None and best_epoch > offered_epoch and now - last_offer_s >= CHECKPOINT_EVERY_S
                and offer_cost_s <= CHECKPOINT_SHARE * (now - t_train)):
            snapshot = MLP(config.input_size, config.hidden_size, config.num_outputs, config.dropout)
            snapshot.load_state_dict({name: value.cpu() for name, value in best_state.items()})
            thresholds = (tune_thresholds(best_probs.cpu().numpy(), Y_val_np) if best_probs is not None else fixed)
            on_checkpoint(trained_model(snapshot, thresholds, {"val_loss": best_loss, "epoch": best_epoch,
                                                               "partial": True}))
            offered_epoch, last_offer_s = best_epoch, time.perf_counter()
            offer_cost_s += last_offer_s - now

    if on_validation is not None:  # what the live view cost (benchmarks/bench_live_inspect.py prints it)
        info.update(live_offers=live_offers, live_s=live_cost_s)
    resume_state = ResumeState(
        epoch=epoch, model={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        optimizer=_to_cpu(stepper.optimizer.state_dict()), generator=gen.get_state(), rng=torch.get_rng_state(),
        best_model={k: v.cpu().clone() for k, v in best_state.items()}, best_val_loss=best_loss, best_epoch=best_epoch,
        device_type=device.type, data_digest=digest,
        cuda_rng=torch.cuda.get_rng_state(device) if device.type == "cuda" else None)
    model.load_state_dict(best_state)
    _, val_probs_t = _validate(model, loss_fn, X_val, Y_val)
    val_probs = val_probs_t.cpu()
    thresholds = tune_thresholds(val_probs.numpy(), Y_val_np) if config.threshold_mode == "tuned" else fixed
    best = evaluate(val_probs, torch.from_numpy(Y_val_np), thresholds, data.label_names)
    best = {"val_loss": best_loss, **best, "epoch": best_epoch, "thresholds": thresholds}
    trained = trained_model(model, thresholds, best)
    return TrainResult(trained=trained, history=history, best_epoch=best_epoch, best=best, outcome=outcome,
                       device=str(device), duration_s=time.perf_counter() - t_start, info=info,
                       val_probs=val_probs.numpy(), val_targets=Y_val_np.copy(), resume=resume_state)


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
def _live_validation(epoch: int, model: MLP, probs: torch.Tensor, targets: np.ndarray, alive: torch.Tensor
                     ) -> LiveValidation:
    """Host copies of one evaluated epoch's validation probabilities, alive units and (small nets) weights."""
    first, last = model.net[0], model.net[-1]
    small = first.weight.numel() + last.weight.numel() <= LIVE_WEIGHTS_MAX
    weights = (first.weight.detach().cpu().numpy().copy(), last.weight.detach().cpu().numpy().copy()) if small else None
    return LiveValidation(epoch=epoch, probs=probs.detach().cpu().numpy().astype(np.float32, copy=True),
                          targets=targets, alive=alive.cpu().numpy().copy(), weights=weights)


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


# --- quality (issue 10): auto batch size and refit on all rows ------------------------------------------------------
AUTO_BATCH_DIVISOR = 16
AUTO_BATCH_RANGE = (32, 1024)


def auto_batch_size(n_train: int) -> int:
    """The batch size that ``batch_size=0`` means: about 16 steps per epoch, clipped to AUTO_BATCH_RANGE."""
    return int(min(max(n_train // AUTO_BATCH_DIVISOR, AUTO_BATCH_RANGE[0]), AUTO_BATCH_RANGE[1]))


def resolve_auto(config: TrainConfig, n_train: int) -> TrainConfig:
    """``config`` with automatic values (``batch_size=0``) replaced by what they mean for ``n_train`` rows."""
    if config.batch_size == 0:
        return config.replace(batch_size=auto_batch_size(n_train))
    return config


def all_rows_on_device(config: TrainConfig, data: Dataset
                       ) -> tuple[TrainConfig, torch.device, Standardizer, torch.Tensor, torch.Tensor]:
    """A refit's set-up: (config validated and with auto knobs resolved, its device, the standardizer fitted on every
    row, X (n, input_size) standardized and Y (n, num_outputs) on that device)."""
    config.validate()
    check_shapes(config, data)
    config = resolve_auto(config, data.num_rows)
    device = resolve_device(config, data.num_rows)
    standardizer = Standardizer.fit(data.X)
    X = torch.from_numpy(standardizer.transform(data.X)).to(device)
    Y = torch.from_numpy(data.Y).to(device)
    return config, device, standardizer, X, Y


def refit(config: TrainConfig, data: Dataset, epochs: int, thresholds: Optional[list[float]] = None,
          stop: Optional[StopFlag] = None, on_epoch: Optional[Callable[[int], None]] = None) -> TrainedModel:
    """Train on ALL rows of ``data`` for exactly ``epochs`` epochs (no validation split, no early stopping).

    Use it after choosing the epoch count on held-out rows (``TrainResult.best_epoch`` of ``train``, or a search):
    the final model then learns from every row. A cosine schedule follows train()'s (over ``config.epochs``) for
    the first ``epochs`` epochs, so the refit replays the chosen run's learning rates. The last weights are kept;
    ``thresholds`` (default 0.5 each) are stored with the model. Same seed, same weights. ``X``: (n, input_size), ``Y``: (n, num_outputs).
    ``on_epoch(epoch)`` after each epoch (a progress bar).
    """
    if epochs < 1:
        raise MultilabelError(f"refit needs at least 1 epoch, got {epochs}")
    config, device, standardizer, X, Y = all_rows_on_device(config, data)
    torch.manual_seed(config.seed)
    model = MLP(config.input_size, config.hidden_size, config.num_outputs, config.dropout,
                config.input_noise).to(device)
    pw = torch.from_numpy(pos_weights(data.Y)).to(device) if config.pos_weight == "auto" else None
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pw)
    stepper = _Stepper(model, loss_fn, X, Y, config.replace(cuda_graph="off"), device)
    gen = torch.Generator(device=device)
    gen.manual_seed(config.seed)
    model.train()
    for epoch in range(1, epochs + 1):
        if config.lr_schedule == "cosine":  # train()'s schedule over config.epochs, replayed up to `epochs`
            stepper.set_lr(config.learning_rate * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config.epochs)))
        stepper.epoch(torch.randperm(data.num_rows, device=device, generator=gen), stop)
        if stop is not None and stop.is_set():
            break
        if on_epoch is not None:
            on_epoch(epoch)
    model.eval()
    cut = list(thresholds) if thresholds is not None else [0.5] * config.num_outputs
    return TrainedModel(model=model.cpu(), config=config.replace(epochs=epochs), feature_names=list(data.feature_names),
                        label_names=list(data.label_names), standardizer=standardizer, thresholds=cut,
                        metrics={"refit_epochs": epochs, "rows": data.num_rows})


def will_refit(config: TrainConfig, result: TrainResult, stop: Optional[StopFlag] = None) -> bool:
    """Whether ``refit_result`` would refit this run: ``config.refit`` is "all", the run was not stopped, it has a
    best epoch, and no stop is asked for."""
    return (getattr(config, "refit", "none") == "all" and result.outcome != "stopped" and result.best_epoch >= 1
            and not (stop is not None and stop.is_set()))


def refit_expected_s(history: list[dict[str, Any]], rows: int, epochs: int) -> Optional[float]:
    """Seconds a refit of ``rows`` rows for ``epochs`` epochs should take, at the run's own median samples/s over
    its whole epochs (``history``); None before the first whole epoch. The refit trains the same steps without the
    validation pass and the metrics, so it is an upper estimate on the same machine."""
    rates = [r["samples_per_s"] for r in history if not r.get("partial") and r.get("samples_per_s")]
    if not rates:
        return None
    return rows * epochs / float(np.median(rates))


def refit_result(config: TrainConfig, data: Dataset, result: TrainResult,
                 stop: Optional[StopFlag] = None, on_epoch: Optional[Callable[[int], None]] = None) -> TrainResult:
    """``result`` with its model refit on ALL rows of ``data`` when ``config.refit`` is "all" (else ``result``).

    Call it right after ``train(config, data, ...)``: the refit trains ``result.best_epoch`` epochs on every row
    (the training and the validation split, standardizer fitted on all of them; see ``refit``) with the run's
    resolved config and keeps the run's thresholds. A run that was stopped, or a stop during the refit, keeps the
    unrefit model. ``history``, ``best``, ``val_probs`` and ``resume`` stay those of the run (the validation rows are
    training rows of the refit model, so they cannot score it); ``trained.metrics`` gains ``refit_epochs`` and
    ``rows``, and ``info["refit"]`` says what was done.
    """
    if not will_refit(config, result, stop):
        return result
    t0 = time.perf_counter()
    run = result.trained
    refitted = refit(run.config, data, result.best_epoch, thresholds=list(run.thresholds), stop=stop,
                     on_epoch=on_epoch)
    if stop is not None and stop.is_set():  # a half-finished refit is worse than the run's own best weights
        return result
    refitted.config = run.config
    refitted.metrics = {**run.metrics, "refit_epochs": result.best_epoch, "rows": data.num_rows}
    for name in ("run_id", "resume"):  # whatever the caller already attached to the run's model
        if hasattr(run, name):
            setattr(refitted, name, getattr(run, name))
    seconds = time.perf_counter() - t0
    from dataclasses import replace
    return replace(result, trained=refitted, duration_s=result.duration_s + seconds,
                               info={**result.info, "refit": {"epochs": result.best_epoch, "rows": data.num_rows,
                                                              "seconds": seconds}})
