"""Refit on all rows: after ``engine.train`` has chosen the epoch count on held-out rows, train again on every row.

``refit_result`` is what the worker and the CLI run after a training (through ``callbacks.Refit``); ``refit`` alone
trains the search's ensemble members.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from .checkpoint import TrainedModel
from .config import TrainConfig
from .devices import resolve_device
from .data import Dataset, Standardizer
from .errors import MultilabelError
from .model import MLP
from .stepper import StopFlag, Stepper, check_shapes, pos_weights, resolve_auto

if TYPE_CHECKING:
    from .engine import TrainResult


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
    ``thresholds`` (default 0.5 each) are stored with the model. Same seed, same weights. ``X``: (n, input_size),
    ``Y``: (n, num_outputs).
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
    stepper = Stepper(model, loss_fn, X, Y, config.replace(cuda_graph="off"), device)
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
    ``rows``, and ``info["refit"]`` says what was done; a refit cut short by a stop leaves ``info["refit_stopped"]``
    ({"epochs", "done", "rows"}) instead, so a page can say the saved model is the run's own.
    """
    if not will_refit(config, result, stop):
        return result
    t0 = time.perf_counter()
    run = result.trained
    done = [0]

    def counted(epoch: int) -> None:
        done[0] = epoch
        if on_epoch is not None:
            on_epoch(epoch)
    refitted = refit(run.config, data, result.best_epoch, thresholds=list(run.thresholds), stop=stop,
                     on_epoch=counted)
    if stop is not None and stop.is_set():  # a half-finished refit is worse than the run's own best weights
        return replace(result, info={**result.info, "refit_stopped": {"epochs": result.best_epoch, "done": done[0],
                                                                      "rows": data.num_rows}})
    refitted.config = run.config
    refitted.metrics = {**run.metrics, "refit_epochs": result.best_epoch, "rows": data.num_rows}
    for name in ("run_id", "resume"):  # whatever the caller already attached to the run's model
        if hasattr(run, name):
            setattr(refitted, name, getattr(run, name))
    seconds = time.perf_counter() - t0
    return replace(result, trained=refitted, duration_s=result.duration_s + seconds,
                   info={**result.info, "refit": {"epochs": result.best_epoch, "rows": data.num_rows,
                                                  "seconds": seconds}})
