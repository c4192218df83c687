"""Cross-validated bagging with out-of-fold selection: the search's "oof" ensemble.

Each candidate configuration (the search's best trials and the defaults' trial) is trained once per CV fold of its
trial, on the same rows and seed as the trial (``search.fold_rows``, seed = fold), each net early-stopped on its own
fold: no refit epoch count to guess, and every net's held-out rows give out-of-fold (OOF) probabilities. On those rows
``greedy_select`` picks a weighted mix of candidates (Caruana-style forward selection with replacement, by held-out
cross-entropy; the defaults are a candidate, so the mix is no worse than them there), and ``global_threshold`` picks
one cut-off for the mix's probabilities. The shipped model is the chosen candidates' fold nets, each re-expressed on
the standardizer of all rows (``restandardize``), averaged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .checkpoint import TrainedModel
from .config import TrainConfig
from .data import Dataset, Standardizer
from .engine import train
from .threads import run_macs, step_threads

EPS = 1e-7


@dataclass
class FoldBag:
    """One configuration trained once per CV fold: ``nets`` (one per fold, on their folds' standardizers) and
    ``oof`` (n, labels) float64 held-out probabilities, NaN on rows no fold held out."""

    nets: list[TrainedModel]
    oof: np.ndarray


def fold_bag(config: TrainConfig, data: Dataset, folds: int, stop: Optional[threading.Event] = None) -> FoldBag:
    """Train ``config`` on each of ``folds`` CV folds of ``data`` as the search's objective does (validation rows
    ``fold_rows(n, val_fraction, fold)``, seed = fold, best weights kept); their held-out probabilities."""
    from .search import fold_rows
    oof = np.full(data.Y.shape, np.nan)
    nets = []
    for fold in range(folds):
        if stop is not None and stop.is_set() and nets:
            break
        val_idx = fold_rows(data.num_rows, config.val_fraction, fold)
        with step_threads(run_macs(config, data.num_rows)):  # as the search's trials
            result = train(config.replace(seed=fold, eval_every=config.epochs), data, val_rows=val_idx, stop=stop)
        nets.append(result.trained)
        oof[val_idx] = result.trained.predict_proba(data.X[val_idx])
    return FoldBag(nets, oof)


def bce(probs: np.ndarray, Y: np.ndarray) -> float:
    """Mean binary cross-entropy of (n, labels) probabilities against 0/1 targets."""
    p = np.clip(probs, EPS, 1 - EPS)
    return float(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)).mean())


def greedy_select(oofs: list[np.ndarray], Y: np.ndarray, steps: int) -> list[int]:
    """How many times each candidate enters the mix: forward selection with replacement (Caruana et al. 2004) on
    held-out probabilities ``oofs`` (each (n, labels), the same rows) against ``Y``: start from the best single
    candidate, add whichever candidate lowers the mean's cross-entropy most, ``steps`` picks in all; the picks at
    the step with the lowest cross-entropy are kept. Ties go to the earlier candidate."""
    counts = [0] * len(oofs)
    total = np.zeros_like(oofs[0])
    best_counts, best_value = list(counts), np.inf
    for step in range(1, steps + 1):
        values = [bce((total + p) / step, Y) for p in oofs]
        pick = int(np.argmin(values))
        counts[pick] += 1
        total = total + oofs[pick]
        if values[pick] < best_value - 1e-12:
            best_value, best_counts = values[pick], list(counts)
    return best_counts


def restandardize(trained: TrainedModel, standardizer: Standardizer) -> torch.nn.Module:
    """A copy of ``trained``'s net that takes inputs standardized with ``standardizer`` and gives the same logits
    as the original on its own standardizer's inputs: the change of scale and shift goes into the first layer."""
    import copy
    net = copy.deepcopy(trained.model).cpu()
    own = trained.standardizer
    scale = standardizer.std.astype(np.float64) / own.std.astype(np.float64)  # z_own = z * scale + shift
    shift = (standardizer.mean.astype(np.float64) - own.mean.astype(np.float64)) / own.std.astype(np.float64)
    layer = net.hidden_layer
    with torch.no_grad():
        W = layer.weight.detach().double()
        layer.bias.copy_((layer.bias.double() + W @ torch.from_numpy(shift)).float())
        layer.weight.copy_((W * torch.from_numpy(scale)).float())
    return net


def oof_metrics(probs: np.ndarray, Y: np.ndarray, cut: float, folds: list[np.ndarray]) -> dict[str, float]:
    """Hamming loss and micro-F1 of held-out ``probs`` cut at ``cut``: on each fold's rows, then mean and sd."""
    from .search import _metrics
    per = [_metrics(probs[rows], Y[rows], np.full(Y.shape[1], cut, dtype=np.float32)) for rows in folds]
    ham, f1 = np.array([h for h, _ in per]), np.array([f for _, f in per])
    sd = (lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else None)
    return {"hamming": float(ham.mean()), "hamming_sd": sd(ham), "micro_f1": float(f1.mean()),
            "micro_f1_sd": sd(f1), "folds": len(folds)}


def safe_threshold(probs: np.ndarray, Y: np.ndarray, candidates: tuple[float, ...]) -> float:
    """The cut-off in ``candidates`` with the highest micro-F1 on (n, labels) ``probs`` against 0/1 ``Y`` among
    those whose Hamming loss is no higher than at 0.5; ties go to the one nearest 0.5. Averaged nets are less sure
    than one, so fewer of a rare label's probabilities pass 0.5: this gives back the micro-F1 that costs, but only
    where the held-out rows say it costs no Hamming loss."""
    from .search import _metrics

    def scores(t: float) -> tuple[float, float]:
        return _metrics(probs, Y, np.full(Y.shape[1], t, dtype=np.float32))

    limit = scores(0.5)[0]
    best: tuple[float, float, float] = (-scores(0.5)[1], 0.0, 0.5)
    for t in candidates:
        ham, f1 = scores(t)
        key = (-round(f1, 9), abs(t - 0.5), float(t))
        if ham <= limit + 1e-12 and key < best:
            best = key
    return best[2]
