"""train(): the one training loop behind the dashboard, the CLI, the tests and the benchmarks.

Shape of the loop (why it is fast): the data is moved to the device once; each epoch draws a permutation and
slices minibatches by index (no DataLoader for tensors already in memory); the loss is summed on the device and
read once per epoch (no host sync per step). On CUDA the whole step can be captured as one CUDA graph.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from .checkpoint import TrainedModel
from .config import TrainConfig, resolve_device
from .data import Dataset, Standardizer
from .errors import MultilabelError
from .metrics import evaluate, probability_histograms, tune_thresholds
from .model import MLP

PROBE_ROWS = 32  # validation rows whose probabilities are reported each epoch (the live per-label view)
# Validation metrics (F1s, AUROC, subset accuracy, probe rows, histograms) may cost at most this share of the
# training time, or this much per epoch where that is more: a fast epoch gets them every few epochs instead of
# paying for them every time. Losses are reported every epoch; the first and last epochs always get metrics.
METRICS_SHARE = 0.02
METRICS_FLOOR_S = 0.001
EVAL_BATCH_ROWS = 65536
POS_WEIGHT_CLIP = (0.05, 50.0)

EpochCallback = Callable[[dict[str, Any]], None]
StartCallback = Callable[[dict[str, Any]], None]


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


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle, then (train_idx, val_idx); at least one row on each side."""
    if n < 2:
        raise MultilabelError(f"the data has {n} row(s); training needs at least 2 (one to train, one to validate)")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, int(round(n * val_fraction))), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def pos_weights(Y_train: np.ndarray) -> np.ndarray:
    """negatives / positives per label, clipped to POS_WEIGHT_CLIP (a label with no positives gets the maximum)."""
    pos = Y_train.sum(axis=0)
    neg = Y_train.shape[0] - pos
    ratio = np.where(pos > 0, neg / np.maximum(pos, 1), POS_WEIGHT_CLIP[1])
    return np.clip(ratio, *POS_WEIGHT_CLIP).astype(np.float32)


def check_shapes(config: TrainConfig, data: Dataset) -> None:
    if data.X.shape[1] != config.input_size:
        raise MultilabelError(f"input_size is {config.input_size} but the data has {data.X.shape[1]} feature "
                              f"columns; set input_size to {data.X.shape[1]}")
    if data.Y.shape[1] != config.num_outputs:
        raise MultilabelError(f"num_outputs is {config.num_outputs} but the data has {data.Y.shape[1]} label "
                              f"columns; set num_outputs to {data.Y.shape[1]}")


class _Stepper:
    """One optimizer step per call on a batch of row indices; losses summed on the device, never synced here."""

    def __init__(self, model: nn.Module, loss_fn: nn.Module, X: torch.Tensor, Y: torch.Tensor,
                 config: TrainConfig, device: torch.device) -> None:
        self.model, self.loss_fn, self.X, self.Y = model, loss_fn, X, Y
        self.batch_size = config.batch_size
        self.loss_sum = torch.zeros((), device=device)
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        use_graph = device.type == "cuda" and config.cuda_graph != "off" and X.shape[0] >= config.batch_size
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                          weight_decay=config.weight_decay, capturable=use_graph)
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

    def epoch(self, perm: torch.Tensor) -> torch.Tensor:
        """Run one pass over ``perm`` (row indices); return the mean loss as a 0-d device tensor."""
        self.loss_sum.zero_()
        n, bs = perm.numel(), self.batch_size
        for start in range(0, n, bs):
            idx = perm[start:start + bs]
            if self.graph is not None and idx.numel() == bs:
                self.static_idx.copy_(idx)
                self.graph.replay()
            else:
                self._eager(idx)  # the last partial batch runs eagerly (same math, no graph)
        return self.loss_sum / n


def train(config: TrainConfig, data: Dataset, on_epoch: Optional[EpochCallback] = None,
          stop: Optional[threading.Event] = None, on_start: Optional[StartCallback] = None) -> TrainResult:
    """Train an MLP on ``data`` (X: (n, input_size) float32, Y: (n, num_outputs) 0/1 float32).

    ``on_start(info)`` is called once (device, split sizes, probe rows' true labels); ``on_epoch(record)`` after
    every epoch with one JSON-serializable dict; setting ``stop`` ends the run after the current epoch. The best
    weights by validation loss are kept. Raises MultilabelError for bad shapes or a diverging loss.
    """
    config.validate()
    check_shapes(config, data)
    t_start = time.perf_counter()
    train_idx, val_idx = split_indices(data.num_rows, config.val_fraction, config.seed)
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
    model = MLP(config.input_size, config.hidden_size, config.num_outputs, config.dropout).to(device)
    pw = torch.from_numpy(pos_weights(data.Y[train_idx])).to(device) if config.pos_weight == "auto" else None
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pw)
    stepper = _Stepper(model, loss_fn, X_tr, Y_tr, config, device)
    gen = torch.Generator(device=device)
    gen.manual_seed(config.seed)

    n_train, n_probe = len(train_idx), min(PROBE_ROWS, len(val_idx))
    info = {"device": str(device), "n_train": n_train, "n_val": len(val_idx), "cuda_graph": stepper.graph is not None,
            "feature_names": list(data.feature_names), "label_names": list(data.label_names),
            "probe_targets": Y_val_np[:n_probe].astype(int).tolist()}
    if on_start is not None:
        on_start(info)

    fixed = [0.5] * config.num_outputs
    history: list[dict[str, Any]] = []
    best_loss, best_epoch = math.inf, 0
    best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
    outcome = "completed"
    credit_s, metrics_cost_s = 0.0, 0.0  # a token bucket of time that metrics may spend
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n_train, device=device, generator=gen)
        train_loss_t = stepper.epoch(perm)
        val_loss_t, val_probs_t = _validate(model, loss_fn, X_val, Y_val)
        train_loss, val_loss = torch.stack([train_loss_t, val_loss_t]).tolist()  # the one host sync per epoch
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise MultilabelError(f"training diverged at epoch {epoch}: the loss became {train_loss}; lower the "
                                  f"learning rate (now {config.learning_rate:g}) or check the data for extreme values")
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            for name, value in model.state_dict().items():
                best_state[name].copy_(value)
        if stop is not None and stop.is_set():
            outcome = "stopped"
        elif config.patience and epoch - best_epoch >= config.patience:
            outcome = "early_stopped"
        last = outcome != "completed" or epoch == config.epochs
        credit_s += max(METRICS_SHARE * (time.perf_counter() - t0), METRICS_FLOOR_S)
        record = {"epoch": epoch, "epochs": config.epochs, "train_loss": train_loss, "val_loss": val_loss,
                  "best_epoch": best_epoch, "best_val_loss": best_loss}
        if epoch == 1 or last or credit_s >= metrics_cost_s:
            t1 = time.perf_counter()
            # Where the probabilities are (the GPU on CUDA): a few small kernels and one transfer each.
            metrics = evaluate(val_probs_t, Y_val, fixed, data.label_names)
            record.update({f"val_{k}": v for k, v in metrics.items()})
            record["probe_probs"] = [[round(p, 4) for p in row] for row in val_probs_t[:n_probe].tolist()]
            record["prob_hist"] = probability_histograms(val_probs_t, Y_val)
            metrics_cost_s = time.perf_counter() - t1
            credit_s = max(0.0, credit_s - metrics_cost_s)
        duration = time.perf_counter() - t0  # the whole epoch as the user gets it: steps, validation, metrics
        record.update(duration_s=duration, samples_per_s=n_train / max(duration, 1e-9))
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if outcome != "completed":
            break

    model.load_state_dict(best_state)
    _, val_probs_t = _validate(model, loss_fn, X_val, Y_val)
    val_probs = val_probs_t.cpu()
    thresholds = tune_thresholds(val_probs.numpy(), Y_val_np) if config.threshold_mode == "tuned" else fixed
    best = evaluate(val_probs, torch.from_numpy(Y_val_np), thresholds, data.label_names)
    best = {"val_loss": best_loss, **best, "epoch": best_epoch, "thresholds": thresholds}
    trained = TrainedModel(model=model, config=config, feature_names=list(data.feature_names),
                           label_names=list(data.label_names), standardizer=standardizer, thresholds=thresholds,
                           metrics=best)
    return TrainResult(trained=trained, history=history, best_epoch=best_epoch, best=best, outcome=outcome,
                       device=str(device), duration_s=time.perf_counter() - t_start, info=info)


def last_evaluated(history: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The latest epoch record that carries validation metrics (see METRICS_SHARE), or None."""
    return next((record for record in reversed(history) if "val_per_label" in record), None)


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


def _lr_at(config: TrainConfig, epoch: int, epochs: int) -> float:
    """Learning rate of 1-based ``epoch`` of ``epochs``: constant, or cosine from learning_rate down to ~0."""
    if getattr(config, "lr_schedule", "constant") == "cosine":
        return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / max(epochs, 1)))
    return config.learning_rate


def refit(config: TrainConfig, data: Dataset, epochs: int, thresholds: Optional[list[float]] = None,
          stop: Optional[threading.Event] = None) -> TrainedModel:
    """Train on ALL rows of ``data`` for exactly ``epochs`` epochs (no validation split, no early stopping).

    Use it after choosing the epoch count on held-out rows (``TrainResult.best_epoch`` of ``train``, or a search):
    the final model then learns from every row. The last weights are kept; ``thresholds`` (default 0.5 each) are
    stored with the model. Same seed, same weights. ``X``: (n, input_size), ``Y``: (n, num_outputs).
    """
    config.validate()
    check_shapes(config, data)
    if epochs < 1:
        raise MultilabelError(f"refit needs at least 1 epoch, got {epochs}")
    config = resolve_auto(config, data.num_rows)
    device = torch.device("cpu") if config.device == "auto" else resolve_device(config, data.num_rows)
    standardizer = Standardizer.fit(data.X)
    X = torch.from_numpy(standardizer.transform(data.X)).to(device)
    Y = torch.from_numpy(data.Y).to(device)
    torch.manual_seed(config.seed)
    model = MLP(config.input_size, config.hidden_size, config.num_outputs, config.dropout).to(device)
    pw = torch.from_numpy(pos_weights(data.Y)).to(device) if config.pos_weight == "auto" else None
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pw)
    stepper = _Stepper(model, loss_fn, X, Y, config.replace(cuda_graph="off"), device)
    gen = torch.Generator(device=device)
    gen.manual_seed(config.seed)
    model.train()
    for epoch in range(1, epochs + 1):
        for group in stepper.optimizer.param_groups:
            group["lr"] = _lr_at(config, epoch, epochs)
        stepper.epoch(torch.randperm(data.num_rows, device=device, generator=gen))
        if stop is not None and stop.is_set():
            break
    model.eval()
    cut = list(thresholds) if thresholds is not None else [0.5] * config.num_outputs
    return TrainedModel(model=model.cpu(), config=config.replace(epochs=epochs), feature_names=list(data.feature_names),
                        label_names=list(data.label_names), standardizer=standardizer, thresholds=cut,
                        metrics={"refit_epochs": epochs, "rows": data.num_rows})
