"""Validation metrics for multi-label predictions, as plain JSON-serializable numbers.

They run on whatever device the probabilities are on and cost about a millisecond for a few thousand rows: per-label
counts of true/false positives and negatives (a few reductions) give F1, micro/macro F1, Hamming loss and subset
accuracy (exact match), and AUROC comes from ranks (Mann-Whitney U with tied values sharing their mean rank). Both
equal torchmetrics' ``multilabel_stat_scores``/``multilabel_exact_match``/exact ``multilabel_auroc`` (pinned by a
test); computing them here avoids importing torchmetrics (0.9 s) in every process that trains. One host transfer
per call.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

HIST_BINS = 10  # bins of [0, 1] for the per-label probability distributions


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def auroc_per_label(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Area under the ROC curve of each label: (n, num_labels) probabilities and 0/1 targets -> (num_labels,).

    NaN for a label whose targets are all 0 or all 1.
    """
    cols = probs.T.contiguous()  # (labels, n)
    num_labels, n = cols.shape
    ordered, order = torch.sort(cols, dim=1)
    # Tied values share their mean rank: number runs of equal values (each label's row starts a new run) ...
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run = torch.cumsum(starts.reshape(-1), 0) - 1
    position = torch.arange(1, n + 1, dtype=torch.float64, device=cols.device).repeat(num_labels)
    run_sum = torch.zeros(n * num_labels, dtype=torch.float64, device=cols.device).index_add_(0, run, position)
    run_len = torch.bincount(run, minlength=n * num_labels).double()
    # ... and put each run's mean rank back at the rows' original places.
    mean_rank = (run_sum / run_len.clamp(min=1))[run].view(num_labels, n)
    ranks = torch.empty_like(mean_rank).scatter_(1, order, mean_rank)
    pos = targets.T.double()
    n_pos = pos.sum(dim=1)
    n_neg = pos.shape[1] - n_pos
    u = (ranks * pos).sum(dim=1) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)  # 0/0 -> NaN for one-class labels


def evaluate(probs: torch.Tensor, targets: torch.Tensor, thresholds: Sequence[float] | torch.Tensor,
             label_names: Sequence[str]) -> dict[str, Any]:
    """Metrics of probabilities against 0/1 targets, each label cut at its own threshold.

    ``probs``, ``targets``: (n, num_labels) float tensors (probabilities, not logits) on any device. Returns
    hamming_loss, micro_f1, macro_f1, subset_accuracy (exact match of the whole label set) and per_label
    {name: {f1, auroc, support}}. F1 is 0 for a label with no true and no predicted positives; AUROC is None for a
    label with only one class present.
    """
    n, num_labels = probs.shape
    probs = probs.float()
    target = targets.to(device=probs.device, dtype=torch.int32)
    cut = torch.as_tensor(thresholds, dtype=probs.dtype, device=probs.device)
    preds = probs >= cut  # each label at its own threshold
    truth = target.bool()
    tp = (preds & truth).sum(dim=0).double()
    fp = (preds & ~truth).sum(dim=0).double()
    fn = (~preds & truth).sum(dim=0).double()
    support = truth.sum(dim=0).double()
    f1 = torch.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn).clamp(min=1), torch.zeros_like(tp))
    all_tp, all_fp, all_fn = tp.sum(), fp.sum(), fn.sum()
    micro = torch.where(2 * all_tp + all_fp + all_fn > 0, 2 * all_tp / (2 * all_tp + all_fp + all_fn).clamp(min=1),
                        torch.zeros_like(all_tp))
    summary = torch.stack([(all_fp + all_fn) / (n * num_labels), micro, f1.mean(),
                           (preds == truth).all(dim=1).double().mean()])
    packed = torch.cat([summary, f1, auroc_per_label(probs, target), support]).cpu().tolist()  # the one transfer
    f1_list = packed[4:4 + num_labels]
    auroc_list = packed[4 + num_labels:4 + 2 * num_labels]
    support_list = packed[4 + 2 * num_labels:]
    per_label = {name: {"f1": _clean(f1_list[j]), "auroc": _clean(auroc_list[j]), "support": int(support_list[j])}
                 for j, name in enumerate(label_names)}
    return {"hamming_loss": packed[0], "micro_f1": packed[1], "macro_f1": packed[2], "subset_accuracy": packed[3],
            "per_label": per_label}


def probability_histograms(probs: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray
                           ) -> list[dict[str, list[int]]]:
    """Per label, counts of predicted probabilities in HIST_BINS equal bins of [0, 1], split by the true label.

    ``probs``, ``targets``: (n, num_labels) tensors or arrays. Returns one {"neg": [...], "pos": [...]} per label.
    """
    probs_t, targets_t = torch.as_tensor(probs), torch.as_tensor(targets, device=torch.as_tensor(probs).device)
    num_labels = probs_t.shape[1]
    bins = (probs_t * HIST_BINS).long().clamp_(0, HIST_BINS - 1)
    label = torch.arange(num_labels, device=probs_t.device)
    index = (label * 2 + (targets_t > 0.5).long()) * HIST_BINS + bins  # (n, labels): one bincount for everything
    counts = torch.bincount(index.reshape(-1), minlength=num_labels * 2 * HIST_BINS).view(num_labels, 2, HIST_BINS)
    return [{"neg": row[0], "pos": row[1]} for row in counts.cpu().tolist()]


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
