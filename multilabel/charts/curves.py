"""Per-label analysis of a validation split (Inspect) and of predictions (Predict): label frequency, PR and ROC
curves, confusion grids."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import plotly.graph_objects as go

from ..analysis import Confusion, LabelCurves, TradeoffPoint
from ..words import count
from ._base import TOOLBAR_PX, TRAIN_COLOR, VAL_COLOR, _axis, _figure, _fmt

def label_frequency_figure(label_names: Sequence[str], positive_counts: Sequence[int], total: int) -> go.Figure:
    """Rows predicted 1 for each label, out of ``total``: counts on the axis and on the bars (the axis had said
    "share of rows" over bars labelled with counts), the share in the hover. The axis ends just above ``total``, so
    a bar's height still shows its share."""
    share = [c / total if total else 0.0 for c in positive_counts]
    trace = {"type": "bar", "x": list(label_names), "y": list(positive_counts),
             "text": [f"{c:,}" for c in positive_counts], "textposition": "outside", "customdata": share,
             "hovertemplate": f"%{{x}}: %{{y:,}} of {total:,} rows (%{{customdata:.1%}})<extra></extra>"}
    return _figure([trace], f"Predicted positives per label ({count(total, 'row')})", 300,
                   yaxis=_axis("rows predicted 1", range=[0, 1.1 * max(total, 1)]))


# -- per-label analysis --
# Figures of multilabel.analysis's results for one finished run's validation split (the Inspect page).

CHANCE_COLOR, POINT_COLOR = "#9aa5b1", "#d62728"
CURVE_POINTS = 1000  # points per curve on screen: a curve has one point per distinct probability (up to n rows)


def _thin_curve(*columns: Sequence[Any], max_points: int = CURVE_POINTS) -> list[list[Any]]:
    """The same evenly spaced points (first and last always kept) of parallel lists, at most ``max_points``."""
    n = len(columns[0])
    if n <= max_points:
        return [list(c) for c in columns]
    keep = [round(i * (n - 1) / (max_points - 1)) for i in range(max_points)]
    return [[c[k] for k in keep] for c in columns]


_CURVE_MARGIN = {"l": 10, "r": 10, "t": 40 + TOOLBAR_PX, "b": 10}  # the legend sits inside the plot: no room needed above it


def _empty_note(text: str) -> dict[str, Any]:
    return {"text": text, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper", "showarrow": False}


def _inside_legend(x: float, xanchor: str) -> dict[str, Any]:
    """A legend in a bottom corner of the plot area (empty for a useful model), so it never covers the title."""
    return {"x": x, "xanchor": xanchor, "y": 0.02, "yanchor": "bottom", "orientation": "v",
            "bgcolor": "rgba(255,255,255,0.8)"}


def _unit_axes(x_title: str, y_title: str) -> dict[str, Any]:
    return {"xaxis": _axis(x_title, range=[-0.02, 1.02], constrain="domain"),
            "yaxis": _axis(y_title, range=[-0.02, 1.05])}


def pr_curve_figure(curves: LabelCurves, current: Optional[TradeoffPoint] = None) -> go.Figure:
    """Precision against recall for one label (average precision in the legend), with the no-skill line at the
    label's prevalence and ``current`` (the point at the current threshold) as a marker.

    ``curves``: analysis.label_curves; hovering a curve point shows the threshold that gives it.
    """
    traces: list[dict[str, Any]] = []
    # The legend goes under the plot: inside it, it hid the no-skill line wherever the prevalence is low.
    layout: dict[str, Any] = {**_unit_axes("recall", "precision"),
                              "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 0, "yref": "container",
                                         "yanchor": "bottom"},
                              "margin": {**_CURVE_MARGIN, "b": 125}}  # ticks, the axis title, then the legend
    if curves.precision:
        ap = _fmt(curves.average_precision)
        recall, precision, thresholds = _thin_curve(curves.recall, curves.precision,
                                                    [*curves.pr_thresholds, None][:len(curves.precision)])
        traces.append({"type": "scatter", "x": recall, "y": precision, "mode": "lines",
                       "name": f"{curves.label} · AP {ap}", "line": {"color": TRAIN_COLOR, "shape": "hv"},
                       "customdata": thresholds,
                       "hovertemplate": "recall %{x:.3f}<br>precision %{y:.3f}<br>threshold %{customdata:.3f}"
                                        "<extra></extra>"})
        total = curves.positives + curves.negatives
        prevalence = curves.positives / total if total else 0.0
        traces.append({"type": "scatter", "x": [0, 1], "y": [prevalence, prevalence], "mode": "lines",
                       "name": f"no skill (prevalence {prevalence:.2f})",
                       "line": {"color": CHANCE_COLOR, "dash": "dot"}, "hoverinfo": "skip"})
        if current is not None and current.recall is not None:
            precision = 1.0 if current.precision is None else current.precision  # nothing predicted: (R 0, P 1)
            traces.append({"type": "scatter", "x": [current.recall], "y": [precision], "mode": "markers",
                           "name": f"threshold {current.threshold:.2f}: P {_fmt(current.precision)} · "
                                   f"R {_fmt(current.recall)} · F1 {current.f1:.2f}",
                           "marker": {"color": POINT_COLOR, "size": 12, "symbol": "circle"}})
    else:
        layout["annotations"] = [_empty_note(f"{curves.label}: no truly-1 rows in validation, so no PR curve")]
    return _figure(traces, f"Precision-recall · {curves.label}", 430, **layout)


def roc_curve_figure(curves: LabelCurves, current: Optional[TradeoffPoint] = None) -> go.Figure:
    """True-positive rate against false-positive rate for one label (AUROC in the legend), the chance diagonal,
    and ``current`` (the point at the current threshold) as a marker."""
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {**_unit_axes("false-positive rate", "true-positive rate (recall)"),
                              "legend": _inside_legend(0.98, "right")}
    if curves.fpr:
        fpr, tpr, thresholds = _thin_curve(curves.fpr, curves.tpr, curves.roc_thresholds)
        traces.append({"type": "scatter", "x": fpr, "y": tpr, "mode": "lines",
                       "name": f"{curves.label} · AUROC {_fmt(curves.auroc)}", "line": {"color": VAL_COLOR},
                       "customdata": thresholds,
                       "hovertemplate": "FPR %{x:.3f}<br>TPR %{y:.3f}<br>threshold %{customdata:.3f}<extra></extra>"})
        traces.append({"type": "scatter", "x": [0, 1], "y": [0, 1], "mode": "lines", "name": "chance",
                       "line": {"color": CHANCE_COLOR, "dash": "dot"}, "hoverinfo": "skip"})
        if current is not None and current.recall is not None and current.fp + current.tn:
            traces.append({"type": "scatter", "x": [current.fp / (current.fp + current.tn)], "y": [current.recall],
                           "mode": "markers", "name": f"threshold {current.threshold:.2f}",
                           "marker": {"color": POINT_COLOR, "size": 12}})
    else:
        layout["annotations"] = [_empty_note(f"{curves.label}: only one class in validation, so no ROC curve")]
    return _figure(traces, f"ROC · {curves.label}", 380, margin=_CURVE_MARGIN, **layout)


def _rate(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def confusion_grid_figure(confusions: Sequence[Confusion], cols: int = 3) -> go.Figure:
    """Small multiples: one 2x2 confusion matrix per label at its threshold (rows: truly 0 / truly 1; columns:
    predicted 0 / predicted 1). Each cell shows its count and its rate within the true class; colour is the rate.
    """
    n = len(confusions)
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    # Fixed pixel sizes: the gap between rows holds one row's tick labels and the next row's panel titles.
    panel_px, gap_px = 170, 64
    plot_px = rows * panel_px + (rows - 1) * gap_px
    gap_x, gap_y = 0.08, gap_px / plot_px
    width, height = (1 - gap_x * (cols - 1)) / cols, panel_px / plot_px
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"annotations": []}
    for j, c in enumerate(confusions):
        r, k = divmod(j, cols)
        suffix = "" if j == 0 else str(j + 1)
        x0, y1 = k * (width + gap_x), 1 - r * (height + gap_y)
        layout[f"xaxis{suffix}"] = {"domain": [round(x0, 6), round(min(1.0, x0 + width), 6)], "anchor": f"y{suffix}",
                                    "side": "bottom", "fixedrange": True}
        layout[f"yaxis{suffix}"] = {"domain": [round(max(0.0, y1 - height), 6), round(y1, 6)],
                                    "anchor": f"x{suffix}", "autorange": "reversed", "fixedrange": True}
        layout["annotations"].append({"text": f"<b>{c.label}</b> · threshold {c.threshold:.2f}",
                                      "x": x0 + width / 2, "y": y1, "xref": "paper", "yref": "paper",
                                      "showarrow": False, "xanchor": "center", "yanchor": "bottom"})
        z = [[c.tnr, c.fpr], [c.fnr, c.tpr]]
        text = [[f"TN {c.tn:,}<br>{_rate(c.tnr)}", f"FP {c.fp:,}<br>{_rate(c.fpr)}"],
                [f"FN {c.fn:,}<br>{_rate(c.fnr)}", f"TP {c.tp:,}<br>{_rate(c.tpr)}"]]
        traces.append({"type": "heatmap", "z": z, "x": ["predicted 0", "predicted 1"], "y": ["truly 0", "truly 1"],
                       "text": text, "texttemplate": "%{text}", "zmin": 0, "zmax": 1, "colorscale": "Blues",
                       "showscale": j == 0, "colorbar": {"title": {"text": "rate"}, "thickness": 12},
                       "hovertemplate": f"{c.label}<br>%{{y}}, %{{x}}<br>%{{text}}<extra></extra>",
                       "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
    return _figure(traces, "Confusion per label at the current thresholds (validation; rate within the true class)",
                   plot_px + 80, **layout)
