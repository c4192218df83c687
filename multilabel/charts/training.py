"""The Train page's live figures: loss, metrics, per-label metrics, the probe heatmap, probability histograms."""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import plotly.graph_objects as go

from ..metrics import HIST_BINS
from ._base import (HIST_GAP_PX, HIST_ROW_PX, NEG_COLOR, POS_COLOR, TOOLBAR_PX, TRAIN_COLOR, VAL_COLOR, _LAYOUT,
                    _at_epoch, _axis, _epoch_axis, _figure, _fmt, _mode, _series, thin)

def loss_figure(history: Sequence[Mapping[str, Any]], best_epoch: Optional[int] = None,
                title: str = "Loss (binary cross-entropy per label)") -> go.Figure:
    """Train and validation loss against epoch, with the best epoch marked by a dotted line."""
    shown = thin(history)
    traces = []
    for key, name, color in (("train_loss", "train", TRAIN_COLOR), ("val_loss", "validation", VAL_COLOR)):
        x, y = _series(shown, key)
        traces.append({"type": "scatter", "x": x, "y": y, "mode": _mode(len(x)), "name": name,
                       "line": {"color": color}, "marker": {"color": color, "size": 6}})
    extra: dict[str, Any] = {}
    if best_epoch:
        extra["shapes"] = [{"type": "line", "x0": best_epoch, "x1": best_epoch, "y0": 0, "y1": 1, "yref": "paper",
                            "line": {"dash": "dot", "color": "gray"}}]
        epochs = [r["epoch"] for r in shown] or [best_epoch]
        # Right of the line, or left of it near the axis's end (the label ran off the chart as "bes")
        late = best_epoch > min(epochs) + 0.7 * (max(epochs) - min(epochs))
        extra["annotations"] = [{"x": best_epoch, "y": 1, "yref": "paper", "text": f"best {best_epoch}",
                                 "showarrow": False, "yanchor": "top", "xanchor": "right" if late else "left"}]
    return _figure(traces, title, 320, xaxis=_epoch_axis(shown), yaxis=_axis("loss"), **extra)


def metrics_figure(history: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Validation micro-F1, macro-F1 and subset accuracy (exact match) against epoch, at threshold 0.5.

    Only epochs that carry metrics are drawn (every ``eval_every`` epochs, plus the first and the last: see engine.resolve_eval_every); where
    that skips epochs, each measured point carries a marker.
    """
    evaluated = [r for r in history if r.get("val_micro_f1") is not None]
    shown = thin(evaluated)
    sampled = len(evaluated) < len(history)
    traces = []
    for key, name in (("val_micro_f1", "micro-F1"), ("val_macro_f1", "macro-F1"),
                      ("val_subset_accuracy", "subset accuracy (exact match)")):
        x, y = _series(shown, key)
        traces.append({"type": "scatter", "x": x, "y": y, "mode": _mode(len(x), sampled), "name": name,
                       "marker": {"size": 6}})
    title = "Validation metrics (threshold 0.5)"
    if sampled and evaluated:
        title += f" · {len(evaluated)} of {len(history)} epochs measured"
    return _figure(traces, title, 320, xaxis=_epoch_axis(history), yaxis=_axis("score", range=[0, 1.02]))


def per_label_figure(per_label: Mapping[str, Mapping[str, Any]], title: str = "Per-label validation metrics",
                     epoch: Optional[int] = None) -> go.Figure:
    """Grouped bars of F1 and AUROC per label (AUROC is missing for a label with one class in validation).

    ``epoch``: the epoch these metrics come from, shown in the title.
    """
    title = _at_epoch(title, epoch)
    labels = list(per_label)
    traces = []
    for key, name in (("f1", "F1"), ("auroc", "AUROC")):
        values = [per_label[lab].get(key) for lab in labels]
        traces.append({"type": "bar", "x": labels, "y": values, "name": name, "text": [_fmt(v) for v in values],
                       "textposition": "outside"})
    return _figure(traces, title, 320, barmode="group", yaxis=_axis("score", range=[0, 1.1]))


def probe_heatmap(probe_probs: Sequence[Sequence[float]], probe_targets: Sequence[Sequence[int]],
                  label_names: Sequence[str], epoch: Optional[int] = None) -> go.Figure:
    """Probe rows x labels, coloured by the sigmoid probability; cells whose true label is 1 carry a dot.

    ``probe_probs``: (rows, labels) probabilities; ``probe_targets``: (rows, labels) 0/1; ``epoch``: the epoch the
    probabilities come from, shown in the title.
    """
    rows = [f"row {i + 1}" for i in range(len(probe_probs))]
    text = [[f"{p:.2f}" + (" ●" if t else "") for p, t in zip(pr, tr)] for pr, tr in zip(probe_probs, probe_targets)]
    trace = {"type": "heatmap", "z": probe_probs, "x": list(label_names), "y": rows, "zmin": 0, "zmax": 1,
             "colorscale": "Blues", "text": text, "texttemplate": "%{text}",
             "hovertemplate": "%{y} · %{x}<br>p = %{z:.3f}<extra>● = true label is 1</extra>",
             "colorbar": {"title": {"text": "p"}, "thickness": 12}}
    return _figure([trace], _at_epoch("Probability per label on validation rows (● = truly 1)", epoch),
                   max(260, 22 * len(rows)),
                   yaxis={"autorange": "reversed"})


def probability_histogram_figure(prob_hist: Sequence[Mapping[str, Sequence[int]]], label_names: Sequence[str],
                                 cols: int = 3, epoch: Optional[int] = None) -> go.Figure:
    """Per label, how predicted probabilities spread for rows that are truly 0 (grey) and truly 1 (red).

    ``prob_hist``: one {"neg": counts, "pos": counts} per label over HIST_BINS equal bins of [0, 1].
    A label that separates well has grey mass near 0 and red mass near 1. One panel per label, ``cols`` a row.
    Rows are HIST_ROW_PX tall with HIST_GAP_PX between them, room for the row above's tick labels and the panel
    titles, so titles never sit on the row above.
    """
    n = len(label_names)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    plot_px = HIST_ROW_PX * rows + HIST_GAP_PX * (rows - 1)
    # Two a row is the half-width column beside the probe heatmap: 6% of ~450 px left the right panels' count
    # ticks ("200") touching the left panels' bars.
    gap_x, gap_y = (0.13 if cols == 2 else 0.06), HIST_GAP_PX / plot_px
    width, height = (1 - gap_x * (cols - 1)) / cols, HIST_ROW_PX / plot_px
    centers = [(i + 0.5) / HIST_BINS for i in range(HIST_BINS)]
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"annotations": []}
    for j, (hist, name) in enumerate(zip(prob_hist, label_names)):
        r, c = divmod(j, cols)
        suffix = "" if j == 0 else str(j + 1)
        x0, y1 = c * (width + gap_x), 1 - r * (height + gap_y)
        layout[f"xaxis{suffix}"] = {"domain": [round(x0, 6), round(min(1.0, x0 + width), 6)], "range": [0, 1],
                                    "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {"domain": [round(max(0.0, y1 - height), 6), round(y1, 6)], "anchor": f"x{suffix}"}
        # xanchor "center": plotly's "auto" anchors a paper annotation by its third of the width, so the titles of
        # the left and right columns sat beside their panel's middle
        layout["annotations"].append({"text": name, "x": x0 + width / 2, "y": y1, "xref": "paper", "yref": "paper",
                                      "showarrow": False, "xanchor": "center", "yanchor": "bottom"})
        for key, legend, color in (("neg", "true 0", NEG_COLOR), ("pos", "true 1", POS_COLOR)):
            traces.append({"type": "bar", "x": centers, "y": list(hist[key]), "name": legend, "opacity": 0.7,
                           "marker": {"color": color}, "width": 1 / HIST_BINS, "showlegend": j == 0,
                           "legendgroup": legend, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
    top, bottom = _LAYOUT["margin"]["t"], _LAYOUT["margin"]["b"]
    height = plot_px + top + bottom
    # On its own line under the title (beside it, a long title ran into it in a half-width column), above the
    # panel titles.
    legend = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1 - (TOOLBAR_PX + 26) / height,
              "yref": "container", "yanchor": "top"}
    return _figure(traces, _at_epoch("Predicted probability by true label (validation)", epoch),
                   height, barmode="overlay", legend=legend, **layout)
