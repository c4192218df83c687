"""Callbacks: the pieces of a training run that own a cadence or a decision, passed to ``engine.train``.

As in skorch (``skorch/callbacks/base.py``), ``Callback`` has no-op hooks and a subclass overrides the ones it
needs; the loop calls every callback's hook, in list order, and knows nothing about who listens. Each hook gets the
``engine.Loop`` (the run's state: config, history, best epoch, outcome, stop flag) as its first argument.

Per epoch the loop calls, in this order:
  on_epoch_begin(loop, epoch)               before training it (Pause waits here)
  on_progress(loop, progress)               inside it, at most every stepper.PROGRESS_S
  on_validated(loop, epoch, val_probs)      after validation and the best-weights update (EarlyStopping decides)
  on_evaluated(loop, epoch, val_probs, alive)  on epochs that get metrics (LiveSnapshots), inside the epoch's time
  on_epoch_end(loop, record)                with the epoch's record, once it is in the history (Checkpoint after)
and on_train_begin(loop, info) once before the first epoch, on_train_end(loop, result) once after the last (it may
return a replacement result: Refit).

Anything with a cadence takes it as a parameter (Lightning's ``ModelCheckpoint(train_time_interval=...)``): the
clock decides only when a listener is offered something, never what is trained or stored.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np
import torch

from .checkpoint import TrainedModel
from .metrics import tune_thresholds
from .model import MLP
from .refit import refit_expected_s, refit_result, will_refit
from .stepper import StopFlag

if TYPE_CHECKING:
    from .engine import Loop, TrainResult

# Checkpoint: the best weights so far are offered at most this often by default (seconds; the environment variable
# lets tests and impatient users change it), and only while offering them has cost at most CHECKPOINT_SHARE of the
# time.
CHECKPOINT_EVERY_S = float(os.environ.get("MULTILABEL_CHECKPOINT_EVERY_S", "30"))
CHECKPOINT_SHARE = 0.05
# LiveSnapshots (the live per-label and network views): offered on the first and last evaluated epochs and, between
# them, on evaluated epochs at most every LIVE_EVERY_S seconds and only while the offers have cost at most LIVE_SHARE
# of the training time so far.
LIVE_EVERY_S = float(os.environ.get("MULTILABEL_LIVE_EVERY_S", "0.5"))
LIVE_SHARE = 0.05
LIVE_WEIGHTS_MAX = 1_000_000  # a live snapshot carries the weight matrices only up to this many weights
PAUSE_POLL_S = 0.05  # how often a paused run looks at its pause and stop flags


class Callback:
    """Base class: every hook does nothing. Override the ones you need (see the module's docstring)."""

    def on_train_begin(self, loop: Loop, info: dict[str, Any]) -> None:
        pass

    def on_epoch_begin(self, loop: Loop, epoch: int) -> None:
        pass

    def on_progress(self, loop: Loop, progress: dict[str, Any]) -> None:
        pass

    def on_validated(self, loop: Loop, epoch: int, val_probs: torch.Tensor) -> None:
        pass

    def on_evaluated(self, loop: Loop, epoch: int, val_probs: torch.Tensor, alive: torch.Tensor) -> None:
        pass

    def on_epoch_end(self, loop: Loop, record: dict[str, Any]) -> None:
        pass

    def on_train_end(self, loop: Loop, result: TrainResult) -> Optional[TrainResult]:
        return None

    @property
    def wants_progress(self) -> bool:
        """Whether the loop should time progress reports for this callback (they cost a clock read per step)."""
        return type(self).on_progress is not Callback.on_progress


class Report(Callback):
    """Plain functions as listeners (skorch's ``PrintLog(sink=...)``): ``on_start(info)`` once before the first
    epoch, ``on_epoch(record)`` after every epoch, ``on_progress({"epoch", "step", "steps"[, "paused"]})``."""

    def __init__(self, on_start: Optional[Callable[[dict[str, Any]], None]] = None,
                 on_epoch: Optional[Callable[[dict[str, Any]], None]] = None,
                 on_progress: Optional[Callable[[dict[str, Any]], None]] = None) -> None:
        self._on_start, self._on_epoch, self._on_progress = on_start, on_epoch, on_progress

    def on_train_begin(self, loop: Loop, info: dict[str, Any]) -> None:
        if self._on_start is not None:
            self._on_start(info)

    def on_progress(self, loop: Loop, progress: dict[str, Any]) -> None:
        if self._on_progress is not None:
            self._on_progress(progress)

    def on_epoch_end(self, loop: Loop, record: dict[str, Any]) -> None:
        if self._on_epoch is not None:
            self._on_epoch(record)

    @property
    def wants_progress(self) -> bool:
        return self._on_progress is not None


class Pause(Callback):
    """While ``flag.is_set()``, hold the run before its next epoch (optimizer state intact), looking at the flag
    and the loop's stop flag every ``poll_s``; progress listeners get ``"paused": True`` once when the wait begins.

    A stop while paused ends the run at the epoch it was paused after, training nothing more (paused before its
    first epoch, it still trains a step, so a run always has an epoch).
    """

    def __init__(self, flag: StopFlag, poll_s: float = PAUSE_POLL_S) -> None:
        self.flag, self.poll_s = flag, poll_s

    def on_epoch_begin(self, loop: Loop, epoch: int) -> None:
        if not self.flag.is_set():
            return
        loop.progress({"epoch": epoch, "step": 0, "steps": loop.steps_per_epoch, "paused": True})
        while self.flag.is_set() and not loop.stop_requested():
            time.sleep(self.poll_s)
        if loop.history and loop.stop_requested():
            loop.end_before(epoch)


class EarlyStopping(Callback):
    """End the run as "early_stopped" once ``patience`` epochs have passed without a better validation loss (the
    best weights are the loop's own; a stop asked for takes precedence)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience

    def on_validated(self, loop: Loop, epoch: int, val_probs: torch.Tensor) -> None:
        if loop.outcome == "completed" and epoch - loop.best_epoch >= self.patience:
            loop.outcome = "early_stopped"


class Checkpoint(Callback):
    """Offer a CPU copy of the best weights so far to ``save(trained)`` after an epoch that is not the last, when
    they are newer than the last offer, at most every ``every_s`` seconds and only while the offers have cost at
    most ``share`` of the training time (so that a killed process keeps a usable model). Never the final result:
    that is the caller's to save. ``trained.metrics``: {"val_loss", "epoch", "partial": True}; tuned thresholds
    come from the best epoch's validation probabilities."""

    def __init__(self, save: Callable[[TrainedModel], None], every_s: Optional[float] = None,
                 share: float = CHECKPOINT_SHARE) -> None:
        self.save, self.share = save, share
        self.every_s = CHECKPOINT_EVERY_S if every_s is None else float(every_s)
        self.offered_epoch, self.last_offer_s, self.cost_s = 0, None, 0.0  # type: int, Optional[float], float
        self.best_probs: Optional[torch.Tensor] = None  # validation probabilities of the best weights so far

    def on_validated(self, loop: Loop, epoch: int, val_probs: torch.Tensor) -> None:
        if loop.best_epoch == epoch and loop.config.threshold_mode == "tuned":
            self.best_probs = val_probs.clone()

    def on_epoch_end(self, loop: Loop, record: dict[str, Any]) -> None:
        now = time.perf_counter()
        last_offer_s = loop.t_train if self.last_offer_s is None else self.last_offer_s
        if (loop.last or loop.best_epoch <= self.offered_epoch or now - last_offer_s < self.every_s
                or self.cost_s > self.share * (now - loop.t_train)):
            return
        snapshot = MLP(loop.config.input_size, loop.config.hidden_size, loop.config.num_outputs, loop.config.dropout)
        snapshot.load_state_dict({name: value.cpu() for name, value in loop.best_state.items()})
        thresholds = (tune_thresholds(self.best_probs.cpu().numpy(), loop.Y_val_np) if self.best_probs is not None
                      else [0.5] * loop.config.num_outputs)
        self.save(loop.trained_model(snapshot, thresholds, {"val_loss": loop.best_loss, "epoch": loop.best_epoch,
                                                            "partial": True}))
        self.offered_epoch, self.last_offer_s = loop.best_epoch, time.perf_counter()
        self.cost_s += self.last_offer_s - now


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


class LiveSnapshots(Callback):
    """Offer a LiveValidation to ``show(live)`` on evaluated epochs: always the first and the last, between them at
    most every ``every_s`` seconds and while the offers have cost at most ``share`` of the training time. It changes
    nothing in the records. ``weights_max``: the largest net whose weight matrices the snapshot carries."""

    def __init__(self, show: Callable[[LiveValidation], None], every_s: Optional[float] = None,
                 share: float = LIVE_SHARE, weights_max: int = LIVE_WEIGHTS_MAX) -> None:
        self.show, self.share, self.weights_max = show, share, weights_max
        self.every_s = LIVE_EVERY_S if every_s is None else float(every_s)
        self.last_s: Optional[float] = None
        self.cost_s, self.offers = 0.0, 0

    def on_evaluated(self, loop: Loop, epoch: int, val_probs: torch.Tensor, alive: torch.Tensor) -> None:
        now = time.perf_counter()
        last_s = loop.t_train if self.last_s is None else self.last_s
        if not (epoch == loop.first_epoch or loop.last or (
                now - last_s >= self.every_s and self.cost_s <= self.share * (now - loop.t_train))):
            return
        self.show(self.snapshot(epoch, loop.model, val_probs, loop.Y_val_i8, alive))
        self.last_s = time.perf_counter()
        self.cost_s += self.last_s - now
        self.offers += 1

    def on_train_end(self, loop: Loop, result: TrainResult) -> None:
        # What the live view cost (benchmarks/bench_live_inspect.py prints it).
        result.info.update(live_offers=self.offers, live_s=self.cost_s)

    @torch.no_grad()
    def snapshot(self, epoch: int, model: MLP, probs: torch.Tensor, targets: np.ndarray, alive: torch.Tensor
                 ) -> LiveValidation:
        """Host copies of one evaluated epoch's validation probabilities, alive units and (small nets) weights."""
        first, last = model.net[0], model.net[-1]
        small = first.weight.numel() + last.weight.numel() <= self.weights_max
        weights = ((first.weight.detach().cpu().numpy().copy(), last.weight.detach().cpu().numpy().copy())
                   if small else None)
        return LiveValidation(epoch=epoch, probs=probs.detach().cpu().numpy().astype(np.float32, copy=True),
                              targets=targets, alive=alive.cpu().numpy().copy(), weights=weights)


class Refit(Callback):
    """After the run, refit its model on ALL rows (``refit.refit_result``) when ``config.refit`` is "all", the run
    was not stopped and no stop is asked for. Before it starts, ``on_plan({"epochs", "rows", "expected_s"})``;
    after each refit epoch ``on_epoch(epoch)``. A stop during the refit keeps the run's own model."""

    def __init__(self, on_plan: Optional[Callable[[dict[str, Any]], None]] = None,
                 on_epoch: Optional[Callable[[int], None]] = None) -> None:
        self.on_plan, self.on_epoch = on_plan, on_epoch

    def on_train_end(self, loop: Loop, result: TrainResult) -> Optional[TrainResult]:
        if not will_refit(loop.config, result, loop.stop):
            return None
        rows = loop.data.num_rows
        if self.on_plan is not None:
            self.on_plan({"epochs": result.best_epoch, "rows": rows,
                          "expected_s": refit_expected_s(result.history, rows, result.best_epoch)})
        return refit_result(loop.config, loop.data, result, loop.stop, on_epoch=self.on_epoch)
