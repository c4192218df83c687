"""Figures of multilabel.heads.compare_heads for the "Sigmoid vs softmax" page."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import plotly.graph_objects as go

from ._base import HALO, TOOLBAR_PX, _title, _with_layout

HEADS_TRUE_COLOR, HEADS_FALSE_COLOR = "#d62728", "#9aa5b1"
HEADS_TRAIN_COLOR, HEADS_VAL_COLOR = "#1f77b4", "#ff7f0e"
HEADS_PANEL_TITLES = {"sigmoid": "sigmoid per label (BCEWithLogits)", "softmax": "softmax over labels (CrossEntropy)"}
HEADS_THRESHOLD = 0.5
# A bar this tall or taller prints its value inside, at its top: printed above it, a value just under 0.5 sat on the
# dashed 0.5 line and read like "-0.43". A shorter bar's value above it ends below about 0.4, clear of the line.
HEADS_INSIDE_FROM = 0.25
_HEADS_LAYOUT = dict(margin=dict(l=10, r=10, t=90 + TOOLBAR_PX, b=10), uirevision="keep",
                     legend=dict(orientation="h", x=1, xanchor="right", y=1, yref="container", yanchor="top"))


def _heads_grid(rows: int, cols: int, gap_x: float = 0.06, gap_y: float = 0.0
                ) -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
    """Axis suffix ('' for the first panel), x domain and y domain of each panel of a rows x cols grid, row-major."""
    if rows < 1:
        return []
    width, height = (1 - gap_x * (cols - 1)) / cols, (1 - gap_y * (rows - 1)) / rows
    out = []
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        x0, y1 = c * (width + gap_x), 1 - r * (height + gap_y)
        out.append(("" if i == 0 else str(i + 1), (round(x0, 6), round(min(1.0, x0 + width), 6)),
                    (round(max(0.0, y1 - height), 6), round(y1, 6))))
    return out


def heads_probability_figure(label_names: Sequence[str], targets: Sequence[Sequence[int]],
                             probs: Mapping[str, Sequence[Sequence[float]]],
                             row_names: Optional[Sequence[str]] = None) -> go.Figure:
    """Per-label probabilities of a few rows, sigmoid head on the left, softmax head on the right.

    ``targets``: (rows, labels) 0/1; ``probs``: {"sigmoid": (rows, labels), "softmax": (rows, labels)}. Bars of
    truly-1 labels are red, the others grey; a dashed line marks 0.5. Each panel's title counts the true labels above
    0.5 and sums the probabilities: the softmax bars always sum to 1, so two true labels cannot both pass 0.5.
    """
    heads = ["sigmoid", "softmax"]
    n = len(targets)
    names = list(row_names) if row_names is not None else [f"row {i + 1}" for i in range(n)]
    gap_y = 0.35 / max(n, 1) if n > 1 else 0.0
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"annotations": [], "shapes": []}
    for i, (suffix, x_dom, y_dom) in enumerate(_heads_grid(n, 2, gap_y=gap_y)):
        r, c = divmod(i, 2)
        head, truth, p = heads[c], targets[r], probs[heads[c]][r]
        layout[f"xaxis{suffix}"] = {"domain": list(x_dom), "anchor": f"y{suffix}", "type": "category",
                                    "categoryorder": "array", "categoryarray": list(label_names),
                                    "showticklabels": r == n - 1}
        layout[f"yaxis{suffix}"] = {"domain": list(y_dom), "anchor": f"x{suffix}", "range": [0, 1.25],
                                    "tickvals": [0, 0.5, 1],  # room above 1 for a bar's value under the row title
                                    "showgrid": False}  # the dashed 0.5 line is the one line: a grid line hid it
        hits = sum(1 for t, v in zip(truth, p) if t and v > HEADS_THRESHOLD)
        if r == 0:  # column header: which head
            layout["annotations"].append({"text": f"<b>{HEADS_PANEL_TITLES[head]}</b>", "x": (x_dom[0] + x_dom[1]) / 2,
                                          "y": y_dom[1], "yshift": 22, "xref": "paper", "yref": "paper",
                                          "showarrow": False, "xanchor": "center", "yanchor": "bottom", "font": {"size": 14}})
        layout["annotations"].append({
            "text": f"{names[r]}: {hits} of {sum(truth)} true labels above 0.5 · Σp = {sum(p):.2f}",
            "x": (x_dom[0] + x_dom[1]) / 2, "y": y_dom[1], "xref": "paper", "yref": "paper", "showarrow": False, "xanchor": "center",
            "yanchor": "bottom", "font": {"size": 12}})
        layout["shapes"].append({"type": "line", "xref": f"x{suffix} domain", "x0": 0, "x1": 1,
                                 "yref": f"y{suffix}", "y0": HEADS_THRESHOLD, "y1": HEADS_THRESHOLD,
                                 "line": {"dash": "dash", "color": "gray", "width": 1},
                                 "layer": "below"})  # under the bars and their values (a value near 0.4 sat on it)
        for is_true, legend, color in ((1, "truly 1", HEADS_TRUE_COLOR), (0, "truly 0", HEADS_FALSE_COLOR)):
            keep = [j for j, t in enumerate(truth) if bool(t) == bool(is_true)]
            traces.append({"type": "bar", "x": [label_names[j] for j in keep], "y": [p[j] for j in keep],
                           "name": legend, "legendgroup": legend, "showlegend": i == 0,
                           "marker": {"color": color}, "text": [f"{p[j]:.2f}" for j in keep],
                           "textposition": ["inside" if p[j] >= HEADS_INSIDE_FROM else "outside" for j in keep],
                           "insidetextanchor": "end", "cliponaxis": False,
                           # the halo masks whatever runs behind a value above its bar; inside, plotly's own colour
                           # against the bar's reads best
                           "textfont": {"shadow": HALO}, "insidetextfont": {"shadow": "none"},
                           "hovertemplate": "%{x}: p = %{y:.3f}<extra>" + legend + "</extra>",
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
    title = "Probability per label of validation rows with 2+ true labels (dashed: 0.5)"
    return _with_layout(traces, {"title": _title(title),
                                          "height": 190 * n + 130, "barmode": "overlay", **_HEADS_LAYOUT,
                                          **{**layout, "margin": dict(l=10, r=10, t=110 + TOOLBAR_PX, b=10)}})


def heads_loss_figure(train_loss: Mapping[str, Sequence[float]], val_loss: Mapping[str, Sequence[float]]
                      ) -> go.Figure:
    """Train and validation loss per epoch of both heads, side by side (their losses differ, so do their scales).

    ``train_loss``, ``val_loss``: {"sigmoid": [...], "softmax": [...]}, one value per epoch from epoch 1.
    """
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"annotations": []}
    for c, (suffix, x_dom, y_dom) in enumerate(_heads_grid(1, 2, gap_x=0.08)):
        head = ("sigmoid", "softmax")[c]
        layout[f"xaxis{suffix}"] = {"domain": list(x_dom), "anchor": f"y{suffix}", "title": {"text": "epoch"}}
        layout[f"yaxis{suffix}"] = {"domain": list(y_dom), "anchor": f"x{suffix}",
                                    "title": {"text": "binary cross-entropy" if head == "sigmoid" else "cross-entropy"}}
        layout["annotations"].append({"text": HEADS_PANEL_TITLES[head], "x": (x_dom[0] + x_dom[1]) / 2, "y": 1,
                                      "xref": "paper", "yref": "paper", "showarrow": False, "xanchor": "center", "yanchor": "bottom"})
        for losses, name, color in ((train_loss, "train", HEADS_TRAIN_COLOR), (val_loss, "validation", HEADS_VAL_COLOR)):
            values = list(losses[head])
            traces.append({"type": "scatter", "mode": "lines", "x": list(range(1, len(values) + 1)), "y": values,
                           "name": name, "legendgroup": name, "showlegend": c == 0, "line": {"color": color},
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
    return _with_layout(traces, {"title": _title("Loss per epoch"),
                                          "height": 340, **_HEADS_LAYOUT, **layout})


def heads_metrics_figure(table: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Grouped bars of micro-F1 and subset accuracy for each way of predicting (rows of HeadsComparison.metrics_table)."""
    names = [f"{row['head']} · {row['prediction']}" for row in table]
    traces = [{"type": "bar", "x": names, "y": [row[key] for row in table], "name": key,
               "text": [f"{row[key]:.2f}" for row in table], "textposition": "outside"}
              for key in ("micro-F1", "subset accuracy")]
    return _with_layout(traces, {"title": _title("Validation metrics"),
                                          "height": 340, "barmode": "group", "yaxis": {"range": [0, 1.1]},
                                          **_HEADS_LAYOUT})
