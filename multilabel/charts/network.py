"""The Inspect page's Network view: the net as a diagram and its per-epoch weight norms, gradient norms and
dead-ReLU share."""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import plotly.graph_objects as go

from ..analysis import NetworkPicture
from ._base import TOOLBAR_PX, TRAIN_COLOR, VAL_COLOR, _at_epoch, _axis, _epoch_axis, _figure, _mode

NET_POS_COLOR, NET_NEG_COLOR, NET_DEAD_COLOR = "#1f77b4", "#d62728", "#9aa5b1"
NET_EDGE_BINS = 4  # edges drawn in this many widths per sign: a handful of traces however many edges


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
        # Norms from 0 with a tenth of headroom: autoranged, the largest norm's line ran along the panel's top edge.
        top = max((float(v) for key, _, _ in series for v in columns.get(key, []) if v is not None
                   and math.isfinite(float(v))), default=0.0)
        span = [0, 1.02] if p == 2 else [0, top * 1.1] if top > 0 else None
        layout[f"yaxis{suffix}"] = {**_axis(axis_title), "domain": [round(y1 - height, 6), round(y1, 6)],
                                    "anchor": f"x{suffix}", **({"range": span} if span else {})}
        layout[f"xaxis{suffix}"] = {**(_epoch_axis([{"epoch": e} for e in epochs]) if epochs else _axis("epoch")),
                                    "anchor": f"y{suffix}", **({"matches": "x"} if p else {}),
                                    **({} if p == 2 else {"title": {"text": ""}})}
        for key, name, color in series:
            traces.append({"type": "scatter", "x": epochs, "y": list(columns.get(key, [])), "mode": mode,
                           "name": name, "legendgroup": name, "showlegend": p != 1,
                           "line": {"color": color}, "marker": {"color": color, "size": 6},
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
    return _figure(traces, _at_epoch("Inside the net per epoch", epoch), 620, **layout)
