"""The Search page's figures. Each builder takes the plain trial rows of ``search.study_summary(...)["trials"]``:
number, state, value (the objective, lower is better), params, hamming, micro_f1, duration_s."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import plotly.graph_objects as go

from ..config import knob_text, knob_words
from ._base import (PARCOORDS_TICKFONT, TOOLBAR_PX, TITLE_WRAP, TRAIN_COLOR, VAL_COLOR, _axis, _figure, _log_ticks,
                    _numeric_ticks, empty_figure, parcoords_axes)

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
        return empty_figure(title, "no completed trial yet", x_title="trial")
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
    yaxis = _axis("objective")
    if len(xs) == 1:  # plotly's range around one point is -1 to 1: a trial -1 and a negative objective
        pad = max(abs(values[0]) * 0.05, 1e-3)
        xaxis["range"], yaxis["range"] = [xs[0] - 0.5, xs[0] + 0.5], [values[0] - pad, values[0] + pad]
    return _figure(traces, title, 340, xaxis=xaxis, yaxis=yaxis)


def _param_dimension(name: str, kind: str, spec: Any, values: Sequence[Any]) -> dict[str, Any]:
    """One parallel-coordinates axis: categories as evenly spaced ticks, log-scaled floats as log10 with real-value
    ticks, plain floats as they are."""
    if kind == "cat":
        options = list(spec)
        return {"label": knob_words(name),
                "values": [options.index(v) if v in options else -1 for v in values],
                "tickvals": list(range(len(options))), "ticktext": [knob_text(name, o) for o in options],
                "range": [0, max(len(options) - 1, 1)]}
    if kind == "log":
        low, high = spec
        return _log_ticks({"label": f"{knob_words(name)} (log)",
                           "values": [math.log10(v) for v in values]}, low, high)
    low, high = spec
    return _numeric_ticks({"label": knob_words(name), "values": [float(v) for v in values]}, low, high)


def search_parallel_figure(trials: Sequence[Mapping[str, Any]], space: Mapping[str, tuple[str, Any]]) -> go.Figure:
    """Parallel coordinates: one line per completed trial across its hyperparameters (``space``: name -> (kind,
    spec) as ``search.SPACE``), ending at its objective; lines coloured by the objective (bright = better)."""
    done = [t for t in _complete(trials) if all(name in t["params"] for name in space)]
    title = "Hyperparameters against the objective"
    if not done:
        return empty_figure(title, "no completed trial yet", height=380, x_title="")  # parallel axes: no x axis
    values = [float(t["value"]) for t in done]
    dims = [_param_dimension(name, kind, spec, [t["params"][name] for t in done]) for name, (kind, spec) in
            space.items()]
    objective = {"label": "objective", "values": values}
    dims.append(_numeric_ticks(objective, min(values), max(values)) if max(values) > min(values) else
                {**objective, "tickvals": [values[0]], "ticktext": [f"{values[0]:.4g}"]})
    scale = len(set(values)) > 1  # one value has nothing to compare
    axes = parcoords_axes(dims, scale, TITLE_WRAP, "top")  # titles on two lines, or tilted where that is too wide
    trace = {"type": "parcoords", "dimensions": dims,
             "line": {"color": values, "colorscale": SEARCH_COLORSCALE, "showscale": scale,
                      "colorbar": {"title": {"text": "objective"}}}, "tickfont": PARCOORDS_TICKFONT, **axes["trace"]}
    # Titles over the axes (plotly's default side), under the chart's title: the top margin holds them, and the
    # chart grows with it so the axes keep their length.
    top = 30 + TOOLBAR_PX + axes["room"]
    return _figure([trace], title, 294 + top, margin=dict(l=axes["l"], r=axes["r"], t=top, b=30))


def search_importance_figure(importances: Mapping[str, float]) -> go.Figure:
    """Horizontal bars: each hyperparameter's share of the objective's variance (fANOVA), most important on top."""
    title = "Hyperparameter importance (fANOVA)"
    if not importances:
        return empty_figure(title, "not enough completed trials yet", x_title="importance")
    ranked = sorted(importances.items(), key=lambda kv: kv[1])
    trace = {"type": "bar", "orientation": "h", "x": [v for _, v in ranked], "y": [knob_words(k) for k, _ in ranked],
             # Plotly drops the text of a bar too short to hold it inside ("auto"): short ones get theirs outside.
             "text": [f"{v:.2f}" for _, v in ranked], "cliponaxis": False,
             "textposition": ["inside" if v >= 0.15 else "outside" for _, v in ranked],
             "marker": {"color": TRAIN_COLOR},
             "hovertemplate": "%{y}: %{x:.3f}<extra></extra>"}
    return _figure([trace], title, 60 + 34 * len(ranked) + 70, xaxis=_axis("importance", range=[0, 1]),
                   showlegend=False)
