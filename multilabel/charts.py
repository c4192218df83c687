"""Plotly figure builders: pure functions of run data (histories, epoch records, prediction tables).

They take the plain dicts the engine reports (see engine.train) and return ``plotly.graph_objects.Figure``; no
Streamlit, no I/O, so they are tested without a browser. Long histories are thinned for display.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Mapping, Optional, Sequence

import plotly.graph_objects as go

from .analysis import Confusion, LabelCurves, TradeoffPoint
from .metrics import HIST_BINS

MAX_POINTS = 400  # points per line on screen; longer histories are thinned evenly, keeping the last epoch
TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"
NEG_COLOR, POS_COLOR = "#9aa5b1", "#d62728"
# Runs compared side by side: a qualitative palette whose seven colours are at least 30 degrees of hue apart (no
# two blues, no two oranges), then grey.
RUN_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D62728", "#7B3FA0", "#9ACD32", "#E377C2", "#7F7F7F")
MARKERS_UP_TO = 40
HIST_ROW_PX, HIST_GAP_PX = 150, 60  # probability histograms: panel height, and the gap holding ticks + titles  # lines with at most this many points also get markers (one point alone is only a marker)
# The plotly toolbar (and Streamlit's fullscreen button) shows in a band this high at the top right of a chart on
# hover: titles start below it, so the toolbar never covers the end of a long title or the legend.
TOOLBAR_PX = 36


def _title(text: str) -> dict[str, Any]:
    """A chart title under the toolbar band (container pixels, not a share of the height)."""
    return {"text": text, "x": 0, "xref": "container", "xanchor": "left", "y": 1, "yref": "container",
            "yanchor": "top", "pad": {"t": TOOLBAR_PX, "l": 10}}


# Title on the first line (under the toolbar band), legend on its own line below it, so none covers another.
_LAYOUT = dict(margin=dict(l=10, r=10, t=70 + TOOLBAR_PX, b=10), legend=dict(orientation="h", y=1.0, x=0, yanchor="bottom"),
               uirevision="keep")


def thin(history: Sequence[Mapping[str, Any]], max_points: int = MAX_POINTS) -> list[Mapping[str, Any]]:
    """At most ``max_points`` records, evenly spaced, first and last always kept."""
    n = len(history)
    if n <= max_points:
        return list(history)
    step = (n - 1) / (max_points - 1)
    return [history[round(i * step)] for i in range(max_points)]


def _mode(n_points: int, sampled: bool = False) -> str:
    """'lines+markers' where points are few or sampled (a line across a gap must not pass for measured values)."""
    return "lines+markers" if sampled or n_points <= MARKERS_UP_TO else "lines"


def _at_epoch(title: str, epoch: Optional[int]) -> str:
    return title if epoch is None else f"{title} (epoch {epoch})"


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[Optional[float]]]:
    return [r["epoch"] for r in history], [r.get(key) for r in history]


def _figure(traces: list[dict[str, Any]], title: str, height: int, **layout: Any) -> go.Figure:
    """A Figure from plain trace and layout dicts: one validation pass, several times faster than add_trace."""
    return _with_layout(traces, {"title": _title(title), "height": height, **_LAYOUT, **layout})


def _with_layout(traces: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """A Figure whose legend, where it is pinned to the top of the chart, sits under the toolbar band too."""
    legend = layout.get("legend")
    if isinstance(legend, dict) and legend.get("yref") == "container" and legend.get("y", 0) >= 1:
        layout = {**layout, "legend": {**legend, "y": 1 - TOOLBAR_PX / layout["height"], "yanchor": "top"}}
    return go.Figure(data=traces, layout=layout)


def _axis(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, **extra}


def _epoch_axis(history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The epoch axis: whole numbers only (a 1-epoch run gets the tick 1, not 0.5 and 1.5)."""
    last = history[-1]["epoch"] if history else 1
    return _axis("epoch", tickformat="d", **({"dtick": 1} if last <= 10 else {}))


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
        extra["annotations"] = [{"x": best_epoch, "y": 1, "yref": "paper", "text": f"best {best_epoch}",
                                 "showarrow": False, "yanchor": "top", "xanchor": "left"}]
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


def empty_figure(title: str, message: str, height: int = 320) -> go.Figure:
    """A chart frame with axes and a message, drawn before the first point exists."""
    return _figure([], title, height, xaxis=_axis("epoch", range=[0, 1], showticklabels=False),
                   yaxis=_axis("", range=[0, 1], showticklabels=False),
                   annotations=[{"text": message, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper",
                                 "showarrow": False, "font": {"color": "gray"}}])


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


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


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
    gap_x, gap_y = 0.06, HIST_GAP_PX / plot_px
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
        layout["annotations"].append({"text": name, "x": x0 + width / 2, "y": y1, "xref": "paper", "yref": "paper",
                                      "showarrow": False, "yanchor": "bottom"})
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


def runs_overlay_figure(histories: Mapping[str, Sequence[Mapping[str, Any]]], key: str, title: str,
                        yaxis_title: str) -> go.Figure:
    """One line per run of ``key`` (e.g. 'val_loss', 'val_micro_f1') against epoch, over the epochs that have it.

    Each run has its own hue (RUN_COLORS). Where a run has the value on only some epochs, its points carry markers,
    so runs are compared at the epochs actually measured, and the hover names the epoch.
    """
    traces = []
    for i, (name, history) in enumerate(histories.items()):
        having = [r for r in history if r.get(key) is not None]
        x, y = _series(thin(having), key)
        color = RUN_COLORS[i % len(RUN_COLORS)]
        traces.append({"type": "scatter", "x": x, "y": y, "mode": _mode(len(x), len(having) < len(history)),
                       "name": name, "line": {"color": color}, "marker": {"color": color, "size": 6},
                       "hovertemplate": f"{name}<br>epoch %{{x}}: %{{y:.4f}}<extra></extra>"})
    longest = max(histories.values(), key=len, default=[])
    return _figure(traces, title, 340, xaxis=_epoch_axis(longest), yaxis=_axis(yaxis_title))


# -- runs as experiments --
# Figures of the Runs page's comparison: curves smoothed like TensorBoard's, hyperparameters against metrics.

RAW_OPACITY = 0.25  # the unsmoothed line behind a smoothed one
MAX_TICKS = 12  # a categorical or log axis names at most this many values


def smoothed_overlay_figure(histories: Mapping[str, Sequence[Mapping[str, Any]]], key: str, title: str,
                            yaxis_title: str, smoothing: float = 0.0, log_y: bool = False) -> go.Figure:
    """:func:`runs_overlay_figure` with TensorBoard's smoothing and an optional log y axis.

    ``smoothing`` in [0, 1) is the EMA weight (multilabel.experiments.ema, debiased); above 0 each run gets its
    smoothed line (named after the run) over its raw line drawn faint in the same hue (named '<run> (raw)', no
    legend entry). The EMA runs over every epoch that has ``key`` before long histories are thinned for display.
    """
    from .experiments import ema

    if smoothing <= 0:
        fig = runs_overlay_figure(histories, key, title, yaxis_title)
        if log_y:
            fig.update_yaxes(type="log")
        return fig
    traces = []
    for i, (name, history) in enumerate(histories.items()):
        having = [r for r in history if r.get(key) is not None]
        smooth = ema([r[key] for r in having], smoothing)
        points = thin([{"epoch": r["epoch"], "raw": r[key], "smooth": v} for r, v in zip(having, smooth)])
        x = [p["epoch"] for p in points]
        color = RUN_COLORS[i % len(RUN_COLORS)]
        traces.append({"type": "scatter", "x": x, "y": [p["raw"] for p in points], "mode": _mode(len(x)),
                       "name": f"{name} (raw)", "legendgroup": name, "showlegend": False, "opacity": RAW_OPACITY,
                       "line": {"color": color}, "marker": {"color": color, "size": 5},
                       "hovertemplate": f"{name} raw<br>epoch %{{x}}: %{{y:.4f}}<extra></extra>"})
        traces.append({"type": "scatter", "x": x, "y": [p["smooth"] for p in points], "mode": "lines",
                       "name": name, "legendgroup": name, "line": {"color": color, "width": 2},
                       "hovertemplate": f"{name} smoothed<br>epoch %{{x}}: %{{y:.4f}}<extra></extra>"})
    longest = max(histories.values(), key=len, default=[])
    yaxis = _axis(yaxis_title, **({"type": "log"} if log_y else {}))
    return _figure(traces, f"{title} · smoothing {smoothing:.2f}", 340, xaxis=_epoch_axis(longest), yaxis=yaxis)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [round(math.floor(low / step + 1e-9) * step, 12)]
    while ticks[-1] < high - step * 1e-9:  # the last tick at or above ``high``: every value inside the range
        ticks.append(round(ticks[0] + len(ticks) * step, 12))
    return ticks


def _numeric_ticks(dim: dict[str, Any], low: float, high: float) -> dict[str, Any]:
    """Round ticks on a numeric parallel-coordinates axis. An axis with tick values also loses plotly's
    range-end labels, which printed raw floats (0.39788, 0.4055317) at both ends."""
    ticks = _nice_ticks(low, high)
    dim.update(tickvals=ticks, ticktext=[f"{t:.4g}" for t in ticks], range=[ticks[0], ticks[-1]])
    return dim


def _parcoords_dimension(label: str, values: Sequence[Any]) -> dict[str, Any]:
    """One axis: numbers as they are (log10-spaced when positive and spanning 20x or more, ticks naming the
    values), anything else as categories in sorted order ('—' for missing)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if present and all(_is_number(v) for v in present):
        numbers = [float(v) if _is_number(v) else float("nan") for v in values]
        low, high = min(float(v) for v in present), max(float(v) for v in present)
        distinct = sorted({float(v) for v in present})
        if low > 0 and high / low >= 20:
            dim = {"label": f"{label} (log)", "values": [math.log10(v) if v == v else v for v in numbers]}
            decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
            ticks = distinct if len(distinct) <= MAX_TICKS else [10.0 ** e for e in decades]
            return {**dim, "tickvals": [math.log10(t) for t in ticks], "ticktext": [f"{t:g}" for t in ticks]}
        dim = {"label": label, "values": numbers}
        if low == high:  # one value: a flat axis still needs a range to draw
            pad = abs(low) * 0.1 or 1.0
            dim["range"] = [low - pad, high + pad]
        if len(distinct) <= MAX_TICKS and all(float(v).is_integer() for v in distinct):
            dim.update(tickvals=distinct, ticktext=[f"{v:g}" for v in distinct])
        elif low < high:
            _numeric_ticks(dim, low, high)
        else:  # one value, mid-axis: ticks at both ends too, or plotly draws the axis with no length
            pad = dim["range"][1] - low
            dim.update(tickvals=[low - pad, low, low + pad], ticktext=["", f"{low:.4g}", ""])
        return dim
    names = ["—" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values]
    categories = sorted(set(names))
    code = {c: i for i, c in enumerate(categories)}
    dim = {"label": label, "values": [code[n] for n in names], "tickvals": list(range(len(categories))),
           "ticktext": categories}
    if len(categories) == 1:
        dim["range"] = [-1, 1]
    return dim


def parallel_coordinates_figure(rows: Sequence[Mapping[str, Any]], hyperparameters: Sequence[str],
                                metrics: Sequence[str], color_by: str, higher_is_better: bool = True,
                                title: str = "Hyperparameters against best validation metrics") -> go.Figure:
    """A plotly parallel-coordinates plot: one line per run across hyperparameter axes then metric axes.

    ``rows``: one mapping per run (the Runs table's records), holding every column named in ``hyperparameters``
    and ``metrics``. Numeric columns are numeric axes, others (optimizer, device, data) categorical ones. Lines are
    coloured by ``color_by`` (a metric), the better end bright whichever direction is better. Runs without a value
    of ``color_by`` are left out (the title says how many).
    """
    shown = [r for r in rows if _is_number(r.get(color_by))]
    left_out = len(rows) - len(shown)
    heading = title + (f" · {left_out} run{'s' if left_out != 1 else ''} without {color_by} left out"
                       if left_out else "")
    if not shown:
        return empty_figure(heading, f"No run has {color_by} yet.")
    dims = [_parcoords_dimension(c, [r.get(c) for r in shown]) for c in [*hyperparameters, *metrics]]
    left = _left_margin(dims)
    color = [float(r[color_by]) for r in shown]
    trace = {"type": "parcoords", "dimensions": dims,
             "line": {"color": color, "colorscale": "Viridis", "reversescale": not higher_is_better,
                      "showscale": True, "colorbar": {"title": {"text": color_by}}},
             "labelangle": 0, "labelside": "bottom"}
    return go.Figure(data=[trace], layout={"title": _title(heading), "height": 420,
                                           "margin": dict(l=left, r=40, t=70 + TOOLBAR_PX, b=60)})


def _left_margin(dims: Sequence[Mapping[str, Any]]) -> int:
    """Room left of the first axis for its tick labels (category names print to the left of the axis)."""
    if not dims:
        return 60
    longest = max((len(str(t)) for t in dims[0].get("ticktext") or []), default=0)
    return int(min(220, max(60, 7 * longest + 16)))


def figure_html(fig: go.Figure) -> bytes:
    """A figure as a standalone HTML page (UTF-8) with plotly.js inside it: it opens offline, fetches nothing from
    a CDN, and the same figure gives the same bytes (a fixed div id)."""
    return fig.to_html(include_plotlyjs=True, full_html=True, div_id="multilabel-figure",
                       config={"displaylogo": False}).encode("utf-8")


def label_frequency_figure(label_names: Sequence[str], positive_counts: Sequence[int], total: int) -> go.Figure:
    """Share of rows predicted 1 for each label."""
    share = [c / total if total else 0.0 for c in positive_counts]
    trace = {"type": "bar", "x": list(label_names), "y": share, "text": [f"{c:,}" for c in positive_counts],
             "textposition": "outside"}
    return _figure([trace], f"Predicted positives per label ({total:,} rows)", 300,
                   yaxis=_axis("share of rows", range=[0, 1.1]))


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
                                      "showarrow": False, "yanchor": "bottom"})
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


# -- live per-label views and the network (issue 11) -----------------------------------------------------------------
# Figures for the Inspect page's live view and its Network view. Self-contained: this block uses plotly, the helpers
# above and multilabel.analysis's NetworkPicture.

from .analysis import NetworkPicture  # noqa: E402

NET_POS_COLOR, NET_NEG_COLOR, NET_DEAD_COLOR = "#1f77b4", "#d62728", "#9aa5b1"
NET_EDGE_BINS = 4  # edges drawn in this many widths per sign: a handful of traces however many edges


def at_epoch(figure: go.Figure, epoch: Optional[int]) -> go.Figure:
    """``figure`` with " (epoch N)" added to its title (the live view's figures say which epoch they show)."""
    figure.layout.title.text = _at_epoch(figure.layout.title.text or "", epoch)
    return figure


def _unit_y(n: int) -> list[float]:
    """n positions spread over [0, 1], top first (one unit sits in the middle)."""
    return [0.5] if n == 1 else [1 - i / (n - 1) for i in range(n)]


def network_figure(picture: NetworkPicture, title: str = "The network", epoch: Optional[int] = None) -> go.Figure:
    """input -> hidden (ReLU) -> outputs as nodes and edges. Edge width and opacity follow |weight| (relative to the
    largest drawn between the same two layers), colour its sign (blue +, red -); a node's colour is its weight norm
    (relative within its layer; see analysis.NetLayer), a dead hidden unit is a grey cross. Layers wider than the
    picture show their strongest units and say how many are left out."""
    traces: list[dict[str, Any]] = []
    ys = [_unit_y(len(layer.shown)) for layer in picture.layers]
    for gap, edges in enumerate(picture.edges):
        top = max((abs(w) for _, _, w in edges), default=0.0) or 1.0
        for sign, color in ((1, NET_POS_COLOR), (-1, NET_NEG_COLOR)):
            for b in range(NET_EDGE_BINS):
                lo, hi = b / NET_EDGE_BINS, (b + 1) / NET_EDGE_BINS
                x: list[Optional[float]] = []
                y: list[Optional[float]] = []
                for a, c, w in edges:
                    share = abs(w) / top
                    if (w >= 0) == (sign > 0) and (lo < share <= hi or (b == 0 and share == 0)):
                        x += [gap, gap + 1, None]
                        y += [ys[gap][a], ys[gap + 1][c], None]
                if x:
                    traces.append({"type": "scatter", "x": x, "y": y, "mode": "lines", "hoverinfo": "skip",
                                   "showlegend": False, "opacity": 0.15 + 0.7 * hi,
                                   "line": {"color": color, "width": 0.5 + 3.5 * hi}})
    annotations = []
    for k, layer in enumerate(picture.layers):
        top = max(layer.norm, default=0.0) or 1.0
        dead = layer.dead or [False] * len(layer.shown)
        alive_pos = [i for i, d in enumerate(dead) if not d]
        dead_pos = [i for i, d in enumerate(dead) if d]
        position = {0: "middle left", 1: "top center", 2: "middle right"}[k]
        hover = [f"{name}<br>weight norm {norm:.3f}" + ("<br>dead: 0 on every validation row" if d else "")
                 for name, norm, d in zip(layer.names, layer.norm, dead)]
        if alive_pos:
            traces.append({"type": "scatter", "x": [k] * len(alive_pos), "y": [ys[k][i] for i in alive_pos],
                           "mode": "markers" if k == 1 else "markers+text",  # hidden: names on hover
                           "text": [layer.names[i] for i in alive_pos],
                           "textposition": position, "hovertext": [hover[i] for i in alive_pos],
                           "hoverinfo": "text", "showlegend": False, "cliponaxis": False,
                           "marker": {"size": 18, "color": [layer.norm[i] / top for i in alive_pos],
                                      "colorscale": "Viridis", "cmin": 0, "cmax": 1, "showscale": k == 1,
                                      "colorbar": {"title": {"text": "norm / layer max"}, "thickness": 12},
                                      "line": {"color": "#333", "width": 1}}})
        if dead_pos:
            traces.append({"type": "scatter", "x": [k] * len(dead_pos), "y": [ys[k][i] for i in dead_pos],
                           "mode": "markers", "text": [layer.names[i] for i in dead_pos],
                           "textposition": position, "hovertext": [hover[i] for i in dead_pos], "hoverinfo": "text",
                           "name": "dead ReLU", "showlegend": True,
                           "marker": {"size": 16, "color": NET_DEAD_COLOR, "symbol": "x"}})
        annotations.append({"text": f"<b>{layer.title}</b>", "x": k, "y": 1.0, "yref": "paper", "xref": "x",
                            "showarrow": False, "yanchor": "bottom"})
        if layer.size > len(layer.shown):
            annotations.append({"text": f"+{layer.size - len(layer.shown):,} more not drawn (weaker)", "x": k,
                                "y": 0.0, "yref": "paper", "xref": "x", "showarrow": False, "yanchor": "top",
                                "font": {"color": "gray"}})
    rows = max(len(layer.shown) for layer in picture.layers)
    # Input names print left of their nodes and output names right of theirs, unclipped (cliponaxis off): the
    # margins make room for the longest (about 7 px a character; the x range already leaves some 60-80 px).
    widest = [max((len(str(n)) for n in layer.names), default=0) for layer in picture.layers]
    side = [int(min(220, max(10, 7 * w - 50))) for w in (widest[0], widest[-1])]
    return _figure(traces, _at_epoch(title, epoch), max(320, 40 * rows + 140),
                   xaxis={"range": [-0.6, 2.6], "visible": False, "fixedrange": True},
                   yaxis={"range": [-0.08, 1.08], "visible": False, "fixedrange": True},
                   annotations=annotations, margin={"l": side[0], "r": side[1], "t": 90 + TOOLBAR_PX, "b": 30},
                   legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yref": "container",
                           "yanchor": "top"})


def network_curves_figure(columns: Mapping[str, Sequence[Any]], epoch: Optional[int] = None) -> go.Figure:
    """Three stacked panels against epoch: per-layer weight norms, per-layer gradient norms (of the epoch's last
    step) and the share of dead hidden ReLUs. ``columns``: analysis.network_history (evaluated epochs only)."""
    epochs = list(columns.get("epoch", []))
    mode = _mode(len(epochs))
    panels = (("weight norm", (("weight_norm_hidden", "hidden layer", TRAIN_COLOR),
                               ("weight_norm_output", "output layer", VAL_COLOR))),
              ("gradient norm", (("grad_norm_hidden", "hidden layer", TRAIN_COLOR),
                                 ("grad_norm_output", "output layer", VAL_COLOR))),
              ("dead ReLUs (share)", (("dead_relu", "dead hidden units", NET_DEAD_COLOR),)))
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    gap = 0.08
    height = (1 - 2 * gap) / 3
    for p, (axis_title, series) in enumerate(panels):
        suffix = "" if p == 0 else str(p + 1)
        y1 = 1 - p * (height + gap)
        layout[f"yaxis{suffix}"] = {**_axis(axis_title), "domain": [round(y1 - height, 6), round(y1, 6)],
                                    "anchor": f"x{suffix}", **({"range": [0, 1.02]} if p == 2 else {})}
        layout[f"xaxis{suffix}"] = {**(_epoch_axis([{"epoch": epochs[-1]}]) if epochs else _axis("epoch")),
                                    "anchor": f"y{suffix}", **({"matches": "x"} if p else {}),
                                    **({} if p == 2 else {"title": {"text": ""}})}
        for key, name, color in series:
            traces.append({"type": "scatter", "x": epochs, "y": list(columns.get(key, [])), "mode": mode,
                           "name": name, "legendgroup": name, "showlegend": p != 1,
                           "line": {"color": color}, "marker": {"color": color, "size": 6},
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
    return _figure(traces, _at_epoch("Inside the net per epoch", epoch), 620, **layout)


# -- sigmoid vs softmax --------------------------------------------------------------------------------------------
# Figures of multilabel.heads.compare_heads for the "Sigmoid vs softmax" page. Self-contained: this block uses only
# plotly and its own constants, so edits elsewhere in this module leave it alone.

HEADS_TRUE_COLOR, HEADS_FALSE_COLOR = "#d62728", "#9aa5b1"
HEADS_TRAIN_COLOR, HEADS_VAL_COLOR = "#1f77b4", "#ff7f0e"
HEADS_PANEL_TITLES = {"sigmoid": "sigmoid per label (BCEWithLogits)", "softmax": "softmax over labels (CrossEntropy)"}
HEADS_THRESHOLD = 0.5
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
        layout[f"yaxis{suffix}"] = {"domain": list(y_dom), "anchor": f"x{suffix}", "range": [0, 1.05],
                                    "tickvals": [0, 0.5, 1]}
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
                                 "line": {"dash": "dash", "color": "gray", "width": 1}})
        for is_true, legend, color in ((1, "truly 1", HEADS_TRUE_COLOR), (0, "truly 0", HEADS_FALSE_COLOR)):
            keep = [j for j, t in enumerate(truth) if bool(t) == bool(is_true)]
            traces.append({"type": "bar", "x": [label_names[j] for j in keep], "y": [p[j] for j in keep],
                           "name": legend, "legendgroup": legend, "showlegend": i == 0,
                           "marker": {"color": color}, "text": [f"{p[j]:.2f}" for j in keep],
                           "textposition": "outside", "cliponaxis": False,
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


# -- hyperparameter search (Search page) ----------------------------------------------------------------------------
# Each builder takes the plain trial rows of ``search.study_summary(...)["trials"]``: number, state, value (the
# objective, lower is better), params, hamming, micro_f1, duration_s.

SEARCH_COLORSCALE = "Viridis_r"  # low objective (good) is bright


def _complete(trials: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [t for t in trials if t.get("state") == "COMPLETE" and t.get("value") is not None]


def search_progress_figure(trials: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Each completed trial's objective (markers, by trial number) and the best so far (a step line).

    Pruned and failed trials have no objective and are left out; the title says how many completed.
    """
    done = sorted(_complete(trials), key=lambda t: t["number"])
    title = f"Objective per trial · {len(done)} completed (lower is better)"
    if not done:
        return empty_figure(title, "no completed trial yet")
    xs = [t["number"] for t in done]
    values = [float(t["value"]) for t in done]
    best, running = [], math.inf
    for v in values:
        running = min(running, v)
        best.append(running)
    traces = [
        {"type": "scatter", "x": xs, "y": values, "mode": "markers", "name": "trial",
         "marker": {"color": TRAIN_COLOR, "size": 8, "opacity": 0.7},
         "customdata": [[t.get("hamming"), t.get("micro_f1")] for t in done],
         "hovertemplate": "trial %{x}<br>objective %{y:.4f}<br>Hamming %{customdata[0]:.4f}"
                          "<br>micro-F1 %{customdata[1]:.4f}<extra></extra>"},
        {"type": "scatter", "x": xs, "y": best, "mode": "lines", "name": "best so far",
         "line": {"color": VAL_COLOR, "shape": "hv", "width": 3}, "hoverinfo": "skip"},
    ]
    # Few trials: one tick per trial (automatic ticks at 0, 0.5, 1 printed as "0 1 1" with the integer format).
    xaxis = _axis("trial", tickformat="d", **({"dtick": 1} if max(xs) - min(xs) <= 10 else {}))
    return _figure(traces, title, 340, xaxis=xaxis, yaxis=_axis("objective"))


def _param_dimension(name: str, kind: str, spec: Any, values: Sequence[Any]) -> dict[str, Any]:
    """One parallel-coordinates axis: categories as evenly spaced ticks, log-scaled floats as log10 with real-value
    ticks, plain floats as they are."""
    if kind == "cat":
        options = list(spec)
        return {"label": name, "values": [options.index(v) if v in options else -1 for v in values],
                "tickvals": list(range(len(options))), "ticktext": [str(o) for o in options],
                "range": [0, max(len(options) - 1, 1)]}
    if kind == "log":
        low, high = spec
        ticks = [10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
        return {"label": f"{name} (log)", "values": [math.log10(v) for v in values],
                "tickvals": [math.log10(t) for t in ticks], "ticktext": [f"{t:g}" for t in ticks],
                "range": [math.log10(low), math.log10(high)]}
    low, high = spec
    return _numeric_ticks({"label": name, "values": [float(v) for v in values]}, low, high)


def search_parallel_figure(trials: Sequence[Mapping[str, Any]], space: Mapping[str, tuple[str, Any]]) -> go.Figure:
    """Parallel coordinates: one line per completed trial across its hyperparameters (``space``: name -> (kind,
    spec) as ``search.SPACE``), ending at its objective; lines coloured by the objective (bright = better)."""
    done = [t for t in _complete(trials) if all(name in t["params"] for name in space)]
    title = "Hyperparameters against the objective"
    if not done:
        return empty_figure(title, "no completed trial yet", height=380)
    values = [float(t["value"]) for t in done]
    dims = [_param_dimension(name, kind, spec, [t["params"][name] for t in done]) for name, (kind, spec) in
            space.items()]
    objective = {"label": "objective", "values": values}
    dims.append(_numeric_ticks(objective, min(values), max(values)) if max(values) > min(values) else
                {**objective, "tickvals": [values[0]], "ticktext": [f"{values[0]:.4g}"]})
    trace = {"type": "parcoords", "dimensions": dims,
             "line": {"color": values, "colorscale": SEARCH_COLORSCALE, "showscale": True,
                      "colorbar": {"title": {"text": "objective"}}}}
    return _figure([trace], title, 420, margin=dict(l=_left_margin(dims), r=40, t=90 + TOOLBAR_PX, b=30))


def search_importance_figure(importances: Mapping[str, float]) -> go.Figure:
    """Horizontal bars: each hyperparameter's share of the objective's variance (fANOVA), most important on top."""
    title = "Hyperparameter importance (fANOVA)"
    if not importances:
        return empty_figure(title, "not enough completed trials yet")
    ranked = sorted(importances.items(), key=lambda kv: kv[1])
    trace = {"type": "bar", "orientation": "h", "x": [v for _, v in ranked], "y": [k for k, _ in ranked],
             "text": [f"{v:.2f}" for _, v in ranked], "textposition": "auto", "marker": {"color": TRAIN_COLOR},
             "hovertemplate": "%{y}: %{x:.3f}<extra></extra>"}
    return _figure([trace], title, 60 + 34 * len(ranked) + 70, xaxis=_axis("importance", range=[0, 1]),
                   showlegend=False)


class FigureMemo:
    """The last ``size`` figures built, by key: a live page's poll that finds no new epoch, and every other viewer of
    the same run, reuse a figure instead of building it again (building is most of what a poll costs the server).

    Keys must name everything the figure shows, e.g. ``(run_id, "loss", epochs_logged)``. Figures handed out are
    shared: callers must not change them. Thread-safe (a server runs each browser session in its own thread).
    """

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self.builds = 0  # figures built so far (the rest were reused)
        self._figures: OrderedDict[Hashable, go.Figure] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], go.Figure]) -> go.Figure:
        with self._lock:
            figure = self._figures.get(key)
            if figure is not None:
                self._figures.move_to_end(key)
                return figure
        figure = build()  # outside the lock: two sessions may build the same figure once each, never wait on one
        with self._lock:
            self._figures[key] = figure
            self.builds += 1
            while len(self._figures) > self.size:
                self._figures.popitem(last=False)
        return figure
