"""Validation metrics for multi-label predictions, as plain JSON-serializable numbers (torchmetrics underneath)."""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
import torch
from torchmetrics.functional.classification import (
    multilabel_auroc,
    multilabel_exact_match,
    multilabel_f1_score,
    multilabel_hamming_distance,
)

HIST_BINS = 10  # bins of [0, 1] for the per-label probability distributions


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def evaluate(probs: torch.Tensor, targets: torch.Tensor, thresholds: Sequence[float] | torch.Tensor,
             label_names: Sequence[str]) -> dict[str, Any]:
    """Metrics of probabilities against 0/1 targets, each label cut at its own threshold.

    ``probs``, ``targets``: (n, num_labels) float tensors (probabilities, not logits). Returns hamming_loss,
    micro_f1, macro_f1, subset_accuracy (exact match of the whole label set) and per_label
    {name: {f1, auroc, support}}. AUROC is None for a label with only one class present.
    """
    num_labels = probs.shape[1]
    probs = probs.float()
    target = targets.int()
    cut = torch.as_tensor(thresholds, dtype=probs.dtype, device=probs.device)
    preds = (probs >= cut).int()  # binarize ourselves: torchmetrics takes one threshold for all labels
    kw = dict(num_labels=num_labels, validate_args=False)
    f1_per = multilabel_f1_score(preds, target, average="none", zero_division=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no positive samples" warnings; we report None for those labels
        auroc_per = multilabel_auroc(probs, target, average="none", **kw)
    stacked = torch.stack([
        multilabel_hamming_distance(preds, target, average="micro", **kw),
        multilabel_f1_score(preds, target, average="micro", zero_division=0, **kw),
        multilabel_f1_score(preds, target, average="macro", zero_division=0, **kw),
        multilabel_exact_match(preds, target, **kw),
    ]).cpu().tolist()
    # reshape: torchmetrics squeezes the per-label result to a scalar when there is a single label
    f1_list, auroc_list = f1_per.reshape(-1).cpu().tolist(), auroc_per.reshape(-1).cpu().tolist()
    support = target.sum(dim=0).cpu().tolist()
    n = probs.shape[0]
    per_label = {}
    for j, name in enumerate(label_names):
        has_both = 0 < support[j] < n
        per_label[name] = {"f1": _clean(f1_list[j]), "auroc": _clean(auroc_list[j]) if has_both else None,
                           "support": int(support[j])}
    return {"hamming_loss": stacked[0], "micro_f1": stacked[1], "macro_f1": stacked[2],
            "subset_accuracy": stacked[3], "per_label": per_label}


def probability_histograms(probs: np.ndarray, targets: np.ndarray) -> list[dict[str, list[int]]]:
    """Per label, counts of predicted probabilities in HIST_BINS equal bins of [0, 1], split by the true label.

    ``probs``, ``targets``: (n, num_labels) arrays. Returns one {"neg": [...], "pos": [...]} per label.
    """
    bins = np.minimum((probs * HIST_BINS).astype(np.int64), HIST_BINS - 1)
    out = []
    for j in range(probs.shape[1]):
        pos = targets[:, j] > 0.5
        out.append({"neg": np.bincount(bins[~pos, j], minlength=HIST_BINS).tolist(),
                    "pos": np.bincount(bins[pos, j], minlength=HIST_BINS).tolist()})
    return out


def tune_thresholds(probs: np.ndarray, targets: np.ndarray, grid: Sequence[float] | None = None) -> list[float]:
    """Per label, the threshold on a coarse grid that maximizes F1 on these rows (use the validation split only).

    A label with no positive rows keeps 0.5. Ties go to the threshold closest to 0.5; the coarse grid
    (0.05 steps) keeps the choice from chasing single rows of a small validation split.
    """
    grid_arr = np.asarray(grid if grid is not None else np.round(np.arange(0.05, 0.951, 0.05), 2))
    out = []
    for j in range(probs.shape[1]):
        y = targets[:, j] > 0.5
        if not y.any():
            out.append(0.5)
            continue
        pred = probs[:, j][None, :] >= grid_arr[:, None]  # (grid, n)
        tp = (pred & y).sum(axis=1)
        fp = (pred & ~y).sum(axis=1)
        fn = (~pred & y).sum(axis=1)
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        out.append(float(grid_arr[best[np.argmin(np.abs(grid_arr[best] - 0.5))]]))
    return out
