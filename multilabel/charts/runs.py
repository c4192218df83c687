"""The Runs page's comparison: overlay curves (smoothed like TensorBoard's) and hyperparameters against metrics."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import plotly.graph_objects as go

from ._base import (PARCOORDS_TICKFONT, RUN_COLORS, TOOLBAR_PX, _axis, _epoch_axis, _figure, _is_number, _log_ticks,
                    _mode, _numeric_ticks, _series, _title, empty_figure, parcoords_axes, thin, thin_ticks)

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
    every = [r for history in histories.values() for r in history]  # the axis frames every run's epochs
    return _figure(traces, title, 340, xaxis=_epoch_axis(every), yaxis=_axis(yaxis_title))


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
    from ..experiments import ema  # here, not at the top: only the Runs page needs pandas behind it

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
    every = [r for history in histories.values() for r in history]  # the axis frames every run's epochs
    yaxis = _axis(yaxis_title, **({"type": "log"} if log_y else {}))
    return _figure(traces, f"{title} · smoothing {smoothing:.2f}", 340, xaxis=_epoch_axis(every), yaxis=yaxis)


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
            return thin_ticks(_log_ticks(dim, low, high, distinct if len(distinct) <= MAX_TICKS else None))
        dim = {"label": label, "values": numbers}
        if low == high:  # one value: a flat axis still needs a range to draw
            pad = abs(low) * 0.1 or 1.0
            dim["range"] = [low - pad, high + pad]
        if len(distinct) <= MAX_TICKS and all(float(v).is_integer() for v in distinct):
            dim.update(tickvals=distinct, ticktext=[f"{v:g}" for v in distinct])
            thin_ticks(dim)
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
        return empty_figure(heading, f"No run has {color_by} yet.", x_title="")  # parallel axes: no x axis
    dims = [_parcoords_dimension(c, [r.get(c) for r in shown]) for c in [*hyperparameters, *metrics]]
    color = [float(r[color_by]) for r in shown]
    scale = len(set(color)) > 1  # one value has nothing to compare: plotly's scale around it read 0.4-1.2
    axes = parcoords_axes(dims, scale)  # titles level, or tilted where many axes leave them too little room
    trace = {"type": "parcoords", "dimensions": dims,
             "line": {"color": color, "colorscale": "Viridis", "reversescale": not higher_is_better,
                      "showscale": scale, "colorbar": {"title": {"text": color_by}}},
             "tickfont": PARCOORDS_TICKFONT, **axes["trace"]}
    # Taller by the titles' room, so the axes keep their length (tick labels closer together would overlap).
    return go.Figure(data=[trace], layout={"title": _title(heading), "height": 360 + axes["room"],
                                           "margin": dict(l=axes["l"], r=axes["r"], t=70 + TOOLBAR_PX,
                                                          b=axes["room"])})
