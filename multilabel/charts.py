"""Plotly figure builders: pure functions of run data (histories, epoch records, prediction tables).

They take the plain dicts the engine reports (see engine.train) and return ``plotly.graph_objects.Figure``; no
Streamlit, no I/O, so they are tested without a browser. Long histories are thinned for display.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import plotly.graph_objects as go

from .metrics import HIST_BINS

MAX_POINTS = 400  # points per line on screen; longer histories are thinned evenly, keeping the last epoch
TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"
NEG_COLOR, POS_COLOR = "#9aa5b1", "#d62728"
# Title on the first line, legend on its own line below it, so neither covers the other in a narrow column.
_LAYOUT = dict(margin=dict(l=10, r=10, t=70, b=10), legend=dict(orientation="h", y=1.0, x=0, yanchor="bottom"),
               uirevision="keep")


def thin(history: Sequence[Mapping[str, Any]], max_points: int = MAX_POINTS) -> list[Mapping[str, Any]]:
    """At most ``max_points`` records, evenly spaced, first and last always kept."""
    n = len(history)
    if n <= max_points:
        return list(history)
    step = (n - 1) / (max_points - 1)
    return [history[round(i * step)] for i in range(max_points)]


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[Optional[float]]]:
    return [r["epoch"] for r in history], [r.get(key) for r in history]


def _figure(traces: list[dict[str, Any]], title: str, height: int, **layout: Any) -> go.Figure:
    """A Figure from plain trace and layout dicts: one validation pass, several times faster than add_trace."""
    return go.Figure(data=traces, layout={"title": {"text": title, "y": 0.98, "yanchor": "top"}, "height": height, **_LAYOUT, **layout})


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, **extra}


def loss_figure(history: Sequence[Mapping[str, Any]], best_epoch: Optional[int] = None,
                title: str = "Loss (binary cross-entropy per label)") -> go.Figure:
    """Train and validation loss against epoch, with the best epoch marked by a dotted line."""
    shown = thin(history)
    traces = []
    for key, name, color in (("train_loss", "train", TRAIN_COLOR), ("val_loss", "validation", VAL_COLOR)):
        x, y = _series(shown, key)
        traces.append({"type": "scatter", "x": x, "y": y, "mode": "lines", "name": name, "line": {"color": color}})
    extra: dict[str, Any] = {}
    if best_epoch:
        extra["shapes"] = [{"type": "line", "x0": best_epoch, "x1": best_epoch, "y0": 0, "y1": 1, "yref": "paper",
                            "line": {"dash": "dot", "color": "gray"}}]
        extra["annotations"] = [{"x": best_epoch, "y": 1, "yref": "paper", "text": f"best {best_epoch}",
                                 "showarrow": False, "yanchor": "top", "xanchor": "left"}]
    return _figure(traces, title, 320, xaxis=_axis("epoch"), yaxis=_axis("loss"), **extra)


def metrics_figure(history: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Validation micro-F1, macro-F1 and subset accuracy (exact match) against epoch, at threshold 0.5.

    Only epochs that carry metrics are drawn (every ``eval_every`` epochs: see engine.resolve_eval_every).
    """
    shown = thin([r for r in history if r.get("val_micro_f1") is not None])
    traces = []
    for key, name in (("val_micro_f1", "micro-F1"), ("val_macro_f1", "macro-F1"),
                      ("val_subset_accuracy", "subset accuracy (exact match)")):
        x, y = _series(shown, key)
        traces.append({"type": "scatter", "x": x, "y": y, "mode": "lines", "name": name})
    return _figure(traces, "Validation metrics (threshold 0.5)", 320, xaxis=_axis("epoch"),
                   yaxis=_axis("score", range=[0, 1.02]))


def per_label_figure(per_label: Mapping[str, Mapping[str, Any]], title: str = "Per-label validation metrics"
                     ) -> go.Figure:
    """Grouped bars of F1 and AUROC per label (AUROC is missing for a label with one class in validation)."""
    labels = list(per_label)
    traces = []
    for key, name in (("f1", "F1"), ("auroc", "AUROC")):
        values = [per_label[lab].get(key) for lab in labels]
        traces.append({"type": "bar", "x": labels, "y": values, "name": name, "text": [_fmt(v) for v in values],
                       "textposition": "outside"})
    return _figure(traces, title, 320, barmode="group", yaxis=_axis("score", range=[0, 1.1]))


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def probe_heatmap(probe_probs: Sequence[Sequence[float]], probe_targets: Sequence[Sequence[int]],
                  label_names: Sequence[str]) -> go.Figure:
    """Probe rows x labels, coloured by the sigmoid probability; cells whose true label is 1 carry a dot.

    ``probe_probs``: (rows, labels) probabilities; ``probe_targets``: (rows, labels) 0/1.
    """
    rows = [f"row {i + 1}" for i in range(len(probe_probs))]
    text = [[f"{p:.2f}" + (" ●" if t else "") for p, t in zip(pr, tr)] for pr, tr in zip(probe_probs, probe_targets)]
    trace = {"type": "heatmap", "z": probe_probs, "x": list(label_names), "y": rows, "zmin": 0, "zmax": 1,
             "colorscale": "Blues", "text": text, "texttemplate": "%{text}",
             "hovertemplate": "%{y} · %{x}<br>p = %{z:.3f}<extra>● = true label is 1</extra>",
             "colorbar": {"title": {"text": "p"}, "thickness": 12}}
    return _figure([trace], "Probability per label on validation rows (● = truly 1)", max(260, 22 * len(rows)),
                   yaxis={"autorange": "reversed"})


def probability_histogram_figure(prob_hist: Sequence[Mapping[str, Sequence[int]]], label_names: Sequence[str],
                                 cols: int = 3) -> go.Figure:
    """Per label, how predicted probabilities spread for rows that are truly 0 (grey) and truly 1 (red).

    ``prob_hist``: one {"neg": counts, "pos": counts} per label over HIST_BINS equal bins of [0, 1].
    A label that separates well has grey mass near 0 and red mass near 1. One panel per label, ``cols`` a row.
    """
    n = len(label_names)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    gap_x, gap_y = 0.06, 0.5 / (rows * 2 + 1) if rows > 1 else 0.0
    width, height = (1 - gap_x * (cols - 1)) / cols, (1 - gap_y * (rows - 1)) / rows
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
        layout["annotations"].append({"text": name, "x": x0 + width / 2, "y": y1, "xref": "paper", "yref": "paper",
                                      "showarrow": False, "yanchor": "bottom"})
        for key, legend, color in (("neg", "true 0", NEG_COLOR), ("pos", "true 1", POS_COLOR)):
            traces.append({"type": "bar", "x": centers, "y": list(hist[key]), "name": legend, "opacity": 0.7,
                           "marker": {"color": color}, "width": 1 / HIST_BINS, "showlegend": j == 0,
                           "legendgroup": legend, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
    # The legend sits on the title's line, at the right: above the plot area it would cover the panel titles.
    legend = {"orientation": "h", "x": 1, "xanchor": "right", "y": 1, "yref": "container",
              "yanchor": "top"}
    return _figure(traces, "Predicted probability by true label (validation)", 200 * rows + 80, barmode="overlay",
                   legend=legend, **layout)


def runs_overlay_figure(histories: Mapping[str, Sequence[Mapping[str, Any]]], key: str, title: str,
                        yaxis_title: str) -> go.Figure:
    """One line per run of ``key`` (e.g. 'val_loss', 'val_micro_f1') against epoch, over the epochs that have it."""
    traces = []
    for name, history in histories.items():
        x, y = _series(thin([r for r in history if r.get(key) is not None]), key)
        traces.append({"type": "scatter", "x": x, "y": y, "mode": "lines", "name": name})
    return _figure(traces, title, 340, xaxis=_axis("epoch"), yaxis=_axis(yaxis_title))


def label_frequency_figure(label_names: Sequence[str], positive_counts: Sequence[int], total: int) -> go.Figure:
    """Share of rows predicted 1 for each label."""
    share = [c / total if total else 0.0 for c in positive_counts]
    trace = {"type": "bar", "x": list(label_names), "y": share, "text": [f"{c:,}" for c in positive_counts],
             "textposition": "outside"}
    return _figure([trace], f"Predicted positives per label ({total:,} rows)", 300,
                   yaxis=_axis("share of rows", range=[0, 1.1]))
