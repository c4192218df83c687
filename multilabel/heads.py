"""Why sigmoid, not softmax: train both heads on the same multi-label data and compare them.

The product's head puts one sigmoid on each logit and trains it with binary cross-entropy per label, so every label
is its own yes/no question. A softmax head makes the labels compete for one unit of probability: a row with two true
labels cannot have both above 0.5, so at threshold 0.5 it misses labels whenever labels co-occur. ``compare_heads``
trains the same MLP (same split, same initial weights, same batch order) once per head and returns what the
"Sigmoid vs softmax" page shows. No Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .data import Dataset, Standardizer, make_synthetic
from .engine import split_indices
from .errors import MultilabelError
from .metrics import evaluate
from .model import MLP
from .threads import step_threads
from .words import count

HEADS = ("sigmoid", "softmax")
HEAD_TITLES = {"sigmoid": "sigmoid per label (BCEWithLogits)", "softmax": "softmax over labels (CrossEntropy)"}
# Both heads train in the caller's thread (the page's script run): with the defaults, 2,000 rows x 8 labels took
# 1.7-2.9 s and 5,000 x 12 took 4.3 s on one core of a loaded 2-core machine; this cap keeps any comparison within
# seconds.
MAX_ROWS = 10_000
THRESHOLD = 0.5
# The page's defaults: with 8 labels the synthetic generator's base rates (50% falling to 5%) give 2.2 true labels
# per row on average, and about 60% of rows have 2 or more, so co-occurrence is the rule, not the exception.
DEMO_ROWS, DEMO_LABELS, DEMO_FEATURES = 2000, 8, 10


@dataclass
class HeadsComparison:
    """Both heads trained on one split of one data set.

    Losses are per epoch (mean over the rows; the sigmoid head's is binary cross-entropy averaged over labels, the
    softmax head's is cross-entropy against the multi-hot target scaled to sum 1, so their scales differ).
    ``rows``: validation rows (indices into the data) with 2+ true labels; ``targets``: (len(rows), labels) 0/1;
    ``probs[head]``: (len(rows), labels) final probabilities. ``metrics[head]``: ``metrics.evaluate`` on the whole
    validation split at threshold 0.5. ``softmax_topk``: the softmax head's best fixed top-k (k chosen for the best
    micro-F1 on the same validation rows, so an optimistic bound), its k and evaluate()'s metrics.
    """

    label_names: list[str]
    n_train: int
    n_val: int
    label_cardinality: float  # mean number of true labels per row (all rows)
    co_occurrence: float  # share of validation rows with 2+ true labels
    train_loss: dict[str, list[float]]
    val_loss: dict[str, list[float]]
    rows: list[int]
    targets: list[list[int]]
    probs: dict[str, list[list[float]]]
    metrics: dict[str, dict[str, Any]]
    softmax_topk: dict[str, Any] = field(default_factory=dict)

    def metrics_table(self) -> list[dict[str, Any]]:
        """One dict per way of predicting: head, prediction rule, micro-F1, Hamming loss, subset accuracy."""
        rows = [("sigmoid", "p > 0.5 per label", self.metrics["sigmoid"]),
                ("softmax", "p > 0.5 per label", self.metrics["softmax"]),
                ("softmax", f"top-{self.softmax_topk['k']} (best k)", self.softmax_topk["metrics"])]
        return [{"head": head, "prediction": rule, "micro-F1": m["micro_f1"], "Hamming loss": m["hamming_loss"],
                 "subset accuracy": m["subset_accuracy"]} for head, rule, m in rows]


def demo_data(rows: int = DEMO_ROWS, labels: int = DEMO_LABELS, seed: int = 0) -> Dataset:
    """The synthetic data the page compares the heads on: ``make_synthetic`` with DEMO_FEATURES features."""
    return make_synthetic(rows, DEMO_FEATURES, labels, seed=seed)


def _losses(Y: torch.Tensor) -> dict[str, tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], torch.Tensor]]:
    """Per head: (loss of logits against a target, that head's target for every row: (n, labels)).

    The softmax head's target is the multi-hot row divided by its number of true labels (the usual soft-target
    recipe); a row with no true label has an all-zero target and adds nothing: softmax has no way to say "none".
    """
    soft = Y / Y.sum(dim=1, keepdim=True).clamp(min=1.0)
    return {"sigmoid": (nn.BCEWithLogitsLoss(), Y), "softmax": (nn.CrossEntropyLoss(), soft)}


def _activate(head: str, logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits) if head == "sigmoid" else torch.softmax(logits, dim=1)


def top_k_predictions(probs: torch.Tensor, k: int) -> torch.Tensor:
    """(n, labels) probabilities -> (n, labels) float 0/1 with a 1 on each row's ``k`` most probable labels."""
    out = torch.zeros_like(probs)
    return out.scatter_(1, torch.topk(probs, k, dim=1).indices, 1.0)


def compare_heads(data: Dataset, hidden_size: int = 32, epochs: int = 30, learning_rate: float = 1e-2,
                  batch_size: int = 128, val_fraction: float = 0.25, seed: int = 0, n_rows: int = 4
                  ) -> HeadsComparison:
    """Train a sigmoid head and a softmax head (same MLP, split, initial weights and batches); compare them.

    ``data``: X (n, features), Y (n, labels) 0/1, at most MAX_ROWS rows. Deterministic for a seed (no global RNG
    state is changed). ``n_rows``: how many validation rows with 2+ true labels to report probabilities for.
    Raises MultilabelError for data that cannot show the point (fewer than 2 labels, too many rows).
    """
    n, num_labels = data.Y.shape
    if epochs < 1 or hidden_size < 1 or batch_size < 1:
        raise MultilabelError(f"epochs, hidden_size and batch_size must be >= 1, got {epochs}, {hidden_size} and "
                              f"{batch_size}")
    if num_labels < 2:
        raise MultilabelError(f"the data has {count(num_labels, 'label')}; comparing heads needs at least 2 labels")
    if n > MAX_ROWS:
        raise MultilabelError(f"the data has {n:,} rows; this comparison takes at most {MAX_ROWS:,} (use fewer rows)")
    train_idx, val_idx = split_indices(n, val_fraction, seed)
    standardizer = Standardizer.fit(data.X[train_idx])
    X = torch.from_numpy(standardizer.transform(data.X))
    Y = torch.from_numpy(data.Y)
    losses = _losses(Y)
    tr, va = torch.from_numpy(train_idx), torch.from_numpy(val_idx)

    train_loss: dict[str, list[float]] = {}
    val_loss: dict[str, list[float]] = {}
    val_probs: dict[str, torch.Tensor] = {}
    # On the threads its step is worth (threads.py): it trains in the page's script run, in the server process.
    with step_threads(batch_size * (data.X.shape[1] * hidden_size + hidden_size * num_labels)):
        for head in HEADS:
            loss_fn, target = losses[head]
            with torch.random.fork_rng(devices=[]):  # seed the initial weights without touching the caller's RNG
                torch.manual_seed(seed)
                model = MLP(data.X.shape[1], hidden_size, num_labels)
            optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
            gen = torch.Generator().manual_seed(seed)  # same batches, in the same order, for both heads
            train_loss[head], val_loss[head] = [], []
            for _ in range(epochs):
                model.train()
                perm = tr[torch.randperm(len(tr), generator=gen)]
                total = torch.zeros(())
                for start in range(0, len(perm), batch_size):
                    idx = perm[start:start + batch_size]
                    loss = loss_fn(model(X[idx]), target[idx])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += loss.detach() * len(idx)
                model.eval()
                with torch.no_grad():
                    logits = model(X[va])
                    val_loss[head].append(float(loss_fn(logits, target[va])))
                train_loss[head].append(float(total) / len(perm))
            val_probs[head] = _activate(head, logits)

    Y_val = Y[va]
    cut = [THRESHOLD] * num_labels
    metrics = {head: evaluate(val_probs[head], Y_val, cut, data.label_names) for head in HEADS}
    best_k, best = 1, None
    for k in range(1, num_labels + 1):
        scored = evaluate(top_k_predictions(val_probs["softmax"], k), Y_val, cut, data.label_names)
        if best is None or scored["micro_f1"] > best["micro_f1"]:
            best_k, best = k, scored

    many = np.flatnonzero(data.Y[val_idx].sum(axis=1) >= 2)[:n_rows]
    return HeadsComparison(
        label_names=list(data.label_names), n_train=len(train_idx), n_val=len(val_idx),
        label_cardinality=float(data.Y.sum(axis=1).mean()),
        co_occurrence=float((data.Y[val_idx].sum(axis=1) >= 2).mean()),
        train_loss=train_loss, val_loss=val_loss,
        rows=[int(val_idx[i]) for i in many], targets=data.Y[val_idx][many].astype(int).tolist(),
        probs={head: val_probs[head][many].tolist() for head in HEADS},
        metrics=metrics, softmax_topk={"k": best_k, "metrics": best})
