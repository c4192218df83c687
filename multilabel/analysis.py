"""Per-label analysis of a finished run: PR and ROC curves, 2x2 confusion matrices, and the threshold trade-off.

Everything works on a run's validation split as stored by ``RunStore.save_validation``: ``probs`` (n, labels)
probabilities and ``targets`` (n, labels) 0/1. A row gets label 1 where its probability is at least the label's
threshold (``p >= t``, as in ``metrics.evaluate`` and ``predict``), with both sides compared in float32.

The curves are scikit-learn's ``precision_recall_curve``/``roc_curve`` points (pinned by tests), computed with
NumPy. The trade-off is a lookup on sorted probabilities (O(log n) per threshold), fast enough for a slider.
Outputs are plain dataclasses of Python floats and lists.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .checkpoint import TrainedModel, load_checkpoint, save_checkpoint
from .errors import MultilabelError
from .metrics import evaluate
from .predict import check_thresholds
from .store import FINISHED, RunStore


@dataclass
class LabelCurves:
    """One label's precision-recall and ROC curves on validation rows.

    ``precision``/``recall``/``pr_thresholds``: the PR curve, thresholds ascending (``len(pr_thresholds) ==
    len(precision) - 1``; the last point is precision 1, recall 0). ``fpr``/``tpr``/``roc_thresholds``: the ROC
    curve from (0, 0) to (1, 1), thresholds descending. A label with no positive rows has no PR curve and no
    average precision; a label with only one class has no ROC curve and no AUROC (empty lists, None).
    """

    label: str
    positives: int
    negatives: int
    precision: list[float]
    recall: list[float]
    pr_thresholds: list[float]
    fpr: list[float]
    tpr: list[float]
    roc_thresholds: list[float]
    average_precision: Optional[float]
    auroc: Optional[float]


@dataclass
class Confusion:
    """One label's 2x2 confusion matrix at ``threshold``: counts and rates within each true class.

    ``tpr`` = tp / (tp + fn) (recall), ``fnr`` = 1 - tpr, ``tnr`` = tn / (tn + fp), ``fpr`` = 1 - tnr; a rate whose
    true class has no rows is None.
    """

    label: str
    threshold: float
    tn: int
    fp: int
    fn: int
    tp: int
    tnr: Optional[float]
    fpr: Optional[float]
    fnr: Optional[float]
    tpr: Optional[float]

    @property
    def total(self) -> int:
        return self.tn + self.fp + self.fn + self.tp


@dataclass
class TradeoffPoint:
    """Precision, recall and F1 of one label at one threshold, with the counts they come from.

    ``precision`` is None when no row is predicted 1, ``recall`` is None when no row is truly 1. ``f1`` is
    2tp / (2tp + fp + fn), 0 when that is 0/0 (the convention of ``metrics.evaluate``).
    """

    threshold: float
    precision: Optional[float]
    recall: Optional[float]
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int


def _arrays(probs: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float32)
    y = np.asarray(targets) > 0.5
    if p.ndim != 2 or p.shape != y.shape:
        raise ValueError(f"probs and targets must both be (n, labels); got {p.shape} and {y.shape}")
    return p, y


def _ratio(num: float, den: float) -> Optional[float]:
    return float(num / den) if den else None


def _finite(value: float) -> Optional[float]:
    return float(value) if math.isfinite(value) else None


def _clf_curve(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positives, true positives, threshold) at each distinct score, highest first, counting the rows
    scored at least that threshold (scikit-learn's ``_binary_clf_curve``)."""
    if not p.size:  # no rows: no positives, no negatives, no curve
        return np.zeros(1, np.int64), np.zeros(1, np.int64), p
    order = np.argsort(p, kind="mergesort")[::-1]
    score, truth = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]  # the last row of each run of equal scores
    tps = np.cumsum(truth, dtype=np.int64)[last]
    return 1 + last - tps, tps, score[last]


def label_curves(probs: Any, targets: Any, label: int, name: Optional[str] = None) -> LabelCurves:
    """PR and ROC curves, average precision and AUROC of column ``label`` of (n, labels) ``probs``/``targets``.

    The points of scikit-learn's ``precision_recall_curve`` and ``roc_curve(drop_intermediate=False)`` (the ROC
    curve's first threshold 1.0 where scikit-learn writes inf), in NumPy: the server draws them for Inspect, and
    importing torchmetrics for four formulas took it longer than computing them (benchmarks/README.md).
    """
    p_all, y_all = _arrays(probs, targets)
    fps, tps, thresholds = _clf_curve(p_all[:, label], y_all[:, label])
    positives, negatives = int(tps[-1]), int(fps[-1])
    out = LabelCurves(label=name if name is not None else str(label), positives=positives, negatives=negatives,
                      precision=[], recall=[], pr_thresholds=[], fpr=[], tpr=[], roc_thresholds=[],
                      average_precision=None, auroc=None)
    if positives:  # without positives recall is 0/0: no curve to draw
        precision = np.r_[(tps / (tps + fps))[::-1], 1.0]
        recall = np.r_[(tps / positives)[::-1], 0.0]
        out.precision, out.recall, out.pr_thresholds = precision.tolist(), recall.tolist(), thresholds[::-1].tolist()
        out.average_precision = _finite(-np.sum(np.diff(recall) * precision[:-1]))
    if positives and negatives:
        fpr, tpr = np.r_[0.0, fps / negatives], np.r_[0.0, tps / positives]
        out.fpr, out.tpr, out.roc_thresholds = fpr.tolist(), tpr.tolist(), np.r_[1.0, thresholds].tolist()
        out.auroc = _finite(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)  # the trapezoids (NumPy 1.x has no trapezoid)
    return out


def all_label_curves(probs: Any, targets: Any, label_names: Sequence[str]) -> list[LabelCurves]:
    """``label_curves`` for every label, in order."""
    return [label_curves(probs, targets, j, name) for j, name in enumerate(label_names)]


def _cut(probs: Any, targets: Any, thresholds: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, actual) boolean (n, labels) arrays: ``probs`` cut at one threshold per label."""
    p, y = _arrays(probs, targets)
    cut = np.asarray(thresholds, dtype=np.float32)
    if cut.shape != (p.shape[1],):
        raise ValueError(f"need one threshold per label ({p.shape[1]}), got {len(cut)}")
    return p >= cut, y


def confusion_matrices(probs: Any, targets: Any, thresholds: Sequence[float], label_names: Sequence[str]
                       ) -> list[Confusion]:
    """Per label, the 2x2 confusion matrix of (n, labels) ``probs`` cut at that label's threshold vs ``targets``."""
    pred, y = _cut(probs, targets, thresholds)
    tp = (pred & y).sum(axis=0)
    fp = (pred & ~y).sum(axis=0)
    fn = (~pred & y).sum(axis=0)
    tn = (~pred & ~y).sum(axis=0)
    out = []
    for j, name in enumerate(label_names):
        pos, neg = int(tp[j] + fn[j]), int(tn[j] + fp[j])
        out.append(Confusion(label=name, threshold=float(np.float32(thresholds[j])), tn=int(tn[j]), fp=int(fp[j]),
                             fn=int(fn[j]), tp=int(tp[j]), tnr=_ratio(tn[j], neg), fpr=_ratio(fp[j], neg), fnr=_ratio(fn[j], pos),
                             tpr=_ratio(tp[j], pos)))
    return out


class Tradeoff:
    """Precision / recall / F1 of every label at any threshold, by lookup in sorted validation probabilities.

    Built once from (n, labels) ``probs`` and 0/1 ``targets``: per label, all probabilities sorted and the truly-1
    rows' probabilities sorted (O(n log n)). Each ``at`` call is two binary searches, so a slider can call it on
    every move.
    """

    def __init__(self, probs: Any, targets: Any) -> None:
        p, y = _arrays(probs, targets)
        self.n, self.num_labels = p.shape
        cols, truth = np.ascontiguousarray(p.T), np.ascontiguousarray(y.T)  # (labels, n): one label per row
        self._all = np.sort(cols, axis=1)
        self._pos = [np.sort(cols[j][truth[j]]) for j in range(self.num_labels)]

    def at(self, label: int, threshold: float) -> TradeoffPoint:
        """The trade-off of column ``label`` at ``threshold`` (rows with p >= threshold are predicted 1)."""
        t = np.float32(threshold)
        predicted = self.n - int(np.searchsorted(self._all[label], t, side="left"))
        pos = self._pos[label]
        positives = len(pos)
        tp = positives - int(np.searchsorted(pos, t, side="left"))
        fp, fn = predicted - tp, positives - tp
        tn = self.n - tp - fp - fn
        den = 2 * tp + fp + fn
        return TradeoffPoint(threshold=float(threshold), precision=_ratio(tp, predicted), recall=_ratio(tp, positives),
                             f1=2 * tp / den if den else 0.0, tp=tp, fp=fp, fn=fn, tn=tn)

    def all_at(self, thresholds: Sequence[float]) -> list[TradeoffPoint]:
        """One point per label, each at its own threshold."""
        if len(thresholds) != self.num_labels:
            raise ValueError(f"need one threshold per label ({self.num_labels}), got {len(thresholds)}")
        return [self.at(j, t) for j, t in enumerate(thresholds)]


def summary_at(probs: Any, targets: Any, thresholds: Sequence[float]) -> dict[str, float]:
    """micro_f1, macro_f1, hamming_loss and subset_accuracy of (n, labels) ``probs`` cut at per-label
    ``thresholds`` against ``targets``: the same numbers as ``metrics.evaluate`` (pinned by a test) without its
    per-label AUROC, which costs most of its time and does not depend on thresholds."""
    pred, y = _cut(probs, targets, thresholds)
    tp = (pred & y).sum(axis=0).astype(np.float64)
    fp = (pred & ~y).sum(axis=0).astype(np.float64)
    fn = (~pred & y).sum(axis=0).astype(np.float64)
    den = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
    all_den = den.sum()
    return {"micro_f1": float(2 * tp.sum() / all_den) if all_den else 0.0, "macro_f1": float(f1.mean()),
            "hamming_loss": float((fp.sum() + fn.sum()) / pred.size),
            "subset_accuracy": float((pred == y).all(axis=1).mean())}


# -- thresholds into the model -----------------------------------------------------------------------------------

def with_thresholds(trained: TrainedModel, thresholds: Sequence[float],
                    metrics: Optional[dict[str, Any]] = None) -> TrainedModel:
    """A copy of ``trained`` that cuts at ``thresholds`` (one in [0, 1] per label); it shares the weights (the
    ``model`` module) with ``trained``. ``metrics`` replaces the copy's metrics when given."""
    check_thresholds(trained, thresholds)  # MultilabelError with a one-line message when wrong
    return dataclasses.replace(trained, thresholds=[float(t) for t in thresholds],
                               metrics=dict(trained.metrics if metrics is None else metrics))


def save_thresholds(store: RunStore, run_id: str, thresholds: Sequence[float]) -> dict[str, Any]:
    """Write ``thresholds`` into a finished run's model and return the run's new ``best`` metrics.

    The run's checkpoint file (``store.checkpoint_path(run_id)``) is replaced atomically by a new one with the same
    weights, names, normalization and resume state and the new thresholds. The validation metrics that depend on thresholds
    (F1s, Hamming loss, subset accuracy) are recomputed with ``metrics.evaluate`` on the run's stored validation
    probabilities, exactly as the engine computed them at the end of training; ``val_loss`` and ``epoch`` (which do
    not depend on thresholds) are kept. The new metrics go into both the checkpoint and the run's ``best``, and a
    note "thresholds saved: ..." is added to the run. A run that is not finished, or has no checkpoint or no stored
    validation data (runs from before it was kept), is refused with a MultilabelError.
    """
    run = store.get_run(run_id)
    if run["status"] not in FINISHED:
        raise MultilabelError(f"run {run_id} is {run['status']}; thresholds can be saved only into a finished run")
    path = store.checkpoint_path(run_id)
    if not path.is_file():
        raise MultilabelError(f"run {run_id} has no checkpoint file at {str(path)!r}; retrain it to get a model")
    validation = store.load_validation(run_id)
    if validation is None:
        raise MultilabelError(f"run {run_id} has no stored validation data (it predates it), so its metrics at new "
                              "thresholds cannot be computed; retrain it to tune thresholds here")
    trained = load_checkpoint(path)
    check_thresholds(trained, thresholds)
    cut = [float(t) for t in thresholds]  # as given (0.3, not float32's 0.30000001)
    probs, targets = validation
    old = run["best"] or dict(trained.metrics)
    evaluated = evaluate(torch.from_numpy(np.asarray(probs, dtype=np.float32)),
                         torch.from_numpy(np.asarray(targets, dtype=np.float32)), cut, trained.label_names)
    best = {"val_loss": old.get("val_loss"), **evaluated, "epoch": old.get("epoch"), "thresholds": cut}
    save_checkpoint(with_thresholds(trained, cut, best), path)
    store.set_best(run_id, best)
    before = old.get("thresholds") or trained.thresholds
    changes = ", ".join(f"{name} {a:.2f}→{b:.2f}" for name, a, b in zip(trained.label_names, before, cut)
                        if f"{a:.2f}" != f"{b:.2f}") or "none changed"  # only the labels whose threshold moved
    micro = (f" (val micro-F1 {old['micro_f1']:.3f} → {best['micro_f1']:.3f})"
             if old.get("micro_f1") is not None else f" (val micro-F1 {best['micro_f1']:.3f})")
    store.add_note(run_id, f"thresholds saved: {changes}{micro}")
    return best


# -- the network, visible ----------------------------------------------------------------------------------------------

def inspectable(store: RunStore, run: dict[str, Any]) -> bool:
    """Whether Inspect can show ``run`` (a ``RunStore.list_runs`` row): a finished run with a model, a live run, or
    one that ended without finishing (a crash) after publishing a live epoch."""
    if run["status"] in FINISHED:
        return bool(run["checkpoint"])
    return run["status"] == "running" or store.live_validation_path(run["id"]).is_file()


def inspectable_runs(store: RunStore) -> list[dict[str, Any]]:
    """The runs Inspect offers (see ``inspectable``), newest first as ``RunStore.list_runs``."""
    return [run for run in store.list_runs() if inspectable(store, run)]


MAX_UNITS = 12  # units drawn per layer; a wider layer shows its strongest units and says how many it leaves out


@dataclass
class NetLayer:
    """One layer of the picture: ``size`` units in all, the ``shown`` ones (indices, ascending) with their names,
    weight norms and (hidden layer only) whether each is dead (output 0 on every validation row; None: unknown).

    ``norm``: inputs, the norm of the weights leaving the feature (its column of the hidden weights); hidden units,
    the norm of their incoming weights; outputs, the norm of their incoming weights."""

    title: str
    size: int
    shown: list[int]
    names: list[str]
    norm: list[float]
    dead: Optional[list[bool]] = None


@dataclass
class NetworkPicture:
    """input -> hidden (ReLU) -> outputs, reduced to at most MAX_UNITS units per layer, and the weights between the
    units drawn: ``edges[0]`` (input -> hidden) and ``edges[1]`` (hidden -> output) as (from position, to position,
    weight) over positions in the layers' ``shown`` lists. ``dead_units``: dead hidden units in all (None: unknown)."""

    layers: list[NetLayer]
    edges: list[list[tuple[int, int, float]]]
    dead_units: Optional[int]


def _strongest(score: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` largest scores (ties: the lower index), in ascending index order."""
    order = np.argsort(-score, kind="stable")[:k]
    return sorted(int(i) for i in order)


def network_picture(w_hidden: Any, w_output: Any, alive: Any = None, feature_names: Optional[Sequence[str]] = None,
                    label_names: Optional[Sequence[str]] = None, max_units: int = MAX_UNITS) -> NetworkPicture:
    """What to draw of the net from its weight matrices: ``w_hidden`` (hidden, input), ``w_output`` (labels, hidden)
    and ``alive`` (hidden,) bool (True: positive on some validation row; None when unknown).

    Each layer keeps its ``max_units`` strongest units: inputs by outgoing weight norm, hidden units by incoming
    times outgoing norm (a unit matters when it both listens and is listened to), outputs by incoming norm.
    """
    w1 = np.asarray(w_hidden, dtype=np.float64)
    w2 = np.asarray(w_output, dtype=np.float64)
    if w1.ndim != 2 or w2.ndim != 2 or w2.shape[1] != w1.shape[0]:
        raise ValueError(f"need weights (hidden, input) and (labels, hidden); got {w1.shape} and {w2.shape}")
    hidden, inputs = w1.shape
    labels = w2.shape[0]
    features = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(inputs)]
    outputs = list(label_names) if label_names is not None else [f"label_{j}" for j in range(labels)]
    in_norm = np.linalg.norm(w1, axis=0)  # (input,)
    h_in, h_out = np.linalg.norm(w1, axis=1), np.linalg.norm(w2, axis=0)  # (hidden,)
    o_norm = np.linalg.norm(w2, axis=1)  # (labels,)
    dead_mask = None if alive is None else ~np.asarray(alive, dtype=bool)
    pick_in, pick_h = _strongest(in_norm, max_units), _strongest(h_in * h_out, max_units)
    pick_o = _strongest(o_norm, max_units)
    dead_units = None if dead_mask is None else int(dead_mask.sum())
    layers = [
        NetLayer(f"input · {inputs}", inputs, pick_in, [features[i] for i in pick_in], in_norm[pick_in].tolist()),
        NetLayer(f"hidden (ReLU) · {hidden}" + ("" if dead_units is None else f" · {dead_units} dead"), hidden,
                 pick_h, [f"h{h}" for h in pick_h], h_in[pick_h].tolist(),
                 None if dead_mask is None else [bool(dead_mask[h]) for h in pick_h]),
        NetLayer(f"outputs (sigmoid per label) · {labels}", labels, pick_o, [outputs[o] for o in pick_o],
                 o_norm[pick_o].tolist()),
    ]
    edges = [[(a, b, float(w1[h, i])) for b, h in enumerate(pick_h) for a, i in enumerate(pick_in)],
             [(a, b, float(w2[o, h])) for b, o in enumerate(pick_o) for a, h in enumerate(pick_h)]]
    return NetworkPicture(layers=layers, edges=edges, dead_units=dead_units)


def model_picture(trained: TrainedModel, max_units: int = MAX_UNITS) -> NetworkPicture:
    """``network_picture`` of a loaded single-net model (its saved weights; dead units unknown), with its feature and
    label names."""
    return network_picture(*trained.model.weight_matrices(), None, trained.feature_names, trained.label_names,
                           max_units=max_units)


def live_picture(snapshot: dict[str, Any], info: Optional[dict[str, Any]] = None) -> NetworkPicture:
    """``network_picture`` of a live validation snapshot (``RunStore.load_live_validation`` with its ``weights`` and
    ``alive``), named by the run's ``info`` (feature_names, label_names; numbered when missing)."""
    names = info or {}
    return network_picture(*snapshot["weights"], snapshot["alive"], names.get("feature_names"),
                           names.get("label_names"))


def network_history(history: Sequence[dict[str, Any]]) -> dict[str, list]:
    """The evaluated epochs' network statistics (engine.network_stats, the records' ``net``) as columns:
    epoch, weight_norm_hidden, weight_norm_output, grad_norm_hidden, grad_norm_output, dead_relu."""
    rows = [r for r in history if r.get("net")]
    return {"epoch": [r["epoch"] for r in rows],
            "weight_norm_hidden": [r["net"]["weight_norm"][0] for r in rows],
            "weight_norm_output": [r["net"]["weight_norm"][1] for r in rows],
            "grad_norm_hidden": [r["net"]["grad_norm"][0] for r in rows],
            "grad_norm_output": [r["net"]["grad_norm"][1] for r in rows],
            "dead_relu": [r["net"]["dead_relu"] for r in rows]}
