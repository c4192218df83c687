"""What every chart shares: colours, the title band under the toolbar, thinning, axes, the empty frame,
parallel-coordinates ticks, HTML export and the figure memo."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Mapping, Optional, Sequence

import plotly.graph_objects as go

MAX_POINTS = 400  # points per line on screen; longer histories are thinned evenly, keeping the last epoch
TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"
NEG_COLOR, POS_COLOR = "#9aa5b1", "#d62728"
# Runs compared side by side: a qualitative palette whose seven colours are at least 30 degrees of hue apart (no
# two blues, no two oranges), then grey.
RUN_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D62728", "#7B3FA0", "#9ACD32", "#E377C2", "#7F7F7F")
MARKERS_UP_TO = 40  # lines with at most this many points also get markers (one point alone is only a marker)
HIST_ROW_PX, HIST_GAP_PX = 150, 60  # probability histograms: panel height, and the gap holding ticks + titles
# The plotly toolbar (and Streamlit's fullscreen button) shows in a band this high at the top right of a chart on
# hover: titles start below it, so the toolbar never covers the end of a long title or the legend.
TOOLBAR_PX = 36
# A wide white halo around text keeps it readable over lines drawn under it (plotly's own "auto" shadow is one thin
# pixel): parallel coordinates' tick labels, where the lines from the axis before arrive; a bar's value on a
# reference line. Blurred shadows alone left a line running through a label visible ("0.001" on Search): a solid
# 2 px outline, then a soft edge.
HALO = ", ".join([f"{x}px {y}px 0 #fff" for x, y in ((-1, -1), (1, -1), (-1, 1), (1, 1), (-2, 0), (2, 0), (0, -2),
                                                      (0, 2))] + ["0 0 3px #fff"])
PARCOORDS_TICKFONT = {"shadow": HALO}


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
    """The epoch axis over the epochs of ``history`` (records with "epoch"): whole numbers only (a 1-epoch run gets
    the tick 1, not 0.5 and 1.5), framing its first to its last epoch. Plotly's own range padded markers out to an
    epoch that does not exist (11 after epoch 10) and began one chart at 0 and its neighbour at 1; charts shown side
    by side get the same axis from the same history."""
    epochs = [r["epoch"] for r in history]
    first, last = (min(epochs), max(epochs)) if epochs else (1, 1)
    few = last - first <= 10
    pad = 0.5 if few else 0.02 * (last - first)  # room for the end markers, not a whole epoch more
    return _axis("epoch", tickformat="d", range=[first - pad, last + pad], **({"dtick": 1} if few else {}))


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def empty_figure(title: str, message: str, height: int = 320, x_title: str = "epoch") -> go.Figure:
    """A chart frame with axes and a message, drawn before the first point exists; ``x_title`` names what its x
    axis will count (the training charts' epochs by default; "" for a chart without an x axis)."""
    return _figure([], title, height, xaxis=_axis(x_title, range=[0, 1], showticklabels=False),
                   yaxis=_axis("", range=[0, 1], showticklabels=False),
                   annotations=[{"text": message, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper",
                                 "showarrow": False, "font": {"color": "gray"}}])


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


def _log_ticks(dim: dict[str, Any], low: float, high: float, ticks: Optional[Sequence[float]] = None) -> dict[str, Any]:
    """Ticks on a log10 parallel-coordinates axis: ``ticks`` (real values), or every decade from below ``low`` to
    above ``high``, labelled with the real values. The range spans the ticks: plotly draws a tick outside an axis's
    range by stretching that one axis past the others' ends ("one axis lower")."""
    if ticks is None:
        ticks = [10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]
    tickvals = [math.log10(t) for t in ticks]
    dim.update(tickvals=tickvals, ticktext=[f"{t:g}" for t in ticks], range=[tickvals[0], tickvals[-1]])
    return dim


# Parallel coordinates' axis titles. Plotly centres each title on its axis in one font; Runs draws a dozen axes or
# more, whose titles ran together ("val micro-F1val macro-F1") at the page's width.
PAGE_PX = 930  # a full-width chart at a 1400 px window with the sidebar open
TITLE_CHAR_PX = 5.5  # a title's width per character (4.1-5.5 px measured in Chromium; Streamlit's font is narrower)
TITLE_GAP_PX = 8  # at least this much between two neighbouring titles
TITLE_LINE_PX = 15
TITLE_WRAP = 14  # Search's titles longer than this go on two lines
TITLE_TILT = -30  # degrees: a tilted title reads up to its axis, ending under it (as plotly's tilted x ticks do)
TITLE_OFFSET_PX = 30  # plotly's distance from the axis end to its title
COLORBAR_PX = 75  # the colour scale right of the last axis, with its numbers (plotly widens the margin for it)
TICK_GAP = 1 / 16  # tick labels closer than this share of the axis's length overlap ("112" on "100"): one is dropped


def _axis_title(text: str, width: int = 14) -> str:
    """A parallel-coordinates axis title longer than ``width`` characters on two lines, split at the space that
    makes the longer line shortest: titles are centred over axes about 90 px apart, and two long ones ran into each
    other ('weight rare positives' 'tune thresholds per label')."""
    words = text.split(" ")
    if len(text) <= width or len(words) < 2:
        return text
    if words[-1].startswith("("):  # 'learning rate (log)': the note goes below the name
        return " ".join(words[:-1]) + "<br>" + words[-1]
    cut = min(range(1, len(words)), key=lambda i: max(len(" ".join(words[:i])), len(" ".join(words[i:]))))
    return " ".join(words[:cut]) + "<br>" + " ".join(words[cut:])


def _title_lines(title: str) -> list[str]:
    return str(title).split("<br>")


def _title_px(title: str) -> float:
    return TITLE_CHAR_PX * max(len(line) for line in _title_lines(title))


def axis_spacing(n_axes: int, left: int, right: int, scale: bool, width: int = PAGE_PX) -> float:
    """Pixels between neighbouring axes of a ``width`` px parallel-coordinates chart."""
    plot = width - left - right - (COLORBAR_PX if scale else 0)
    return plot / max(1, n_axes - 1)


def fit_titles(titles: Sequence[str], spacing: float, wrap: Optional[int] = None) -> tuple[list[str], int]:
    """(titles, angle) for axes ``spacing`` px apart: level (angle 0) where each title fits between its neighbours,
    those longer than ``wrap`` characters on two lines (None: one line); else one line each, tilted by TITLE_TILT
    degrees (a tilted title needs only its line's height between neighbours)."""
    room = spacing - TITLE_GAP_PX
    level = [_axis_title(t, wrap) if wrap else t for t in titles]
    if all(_title_px(t) <= room for t in level):
        return level, 0
    return list(titles), TITLE_TILT


def parcoords_axes(dims: list[dict[str, Any]], scale: bool, wrap: Optional[int] = None, side: str = "bottom",
                   width: Optional[int] = None) -> dict[str, Any]:
    """Fit the axis titles of ``dims`` (changed in place) at ``width`` px (PAGE_PX) with the titles on ``side``
    ("bottom" or "top", see ``fit_titles``); returns the trace's label settings and the margins: ``{"trace": {...},
    "l", "r", "room"}`` (room: the titles' height beyond the axes' ends)."""
    width = width or PAGE_PX
    left, right = _left_margin(dims), 40
    titles = [str(d["label"]) for d in dims]
    fitted, angle = fit_titles(titles, axis_spacing(len(dims), left, right, scale, width), wrap)
    for dim, title in zip(dims, fitted):
        dim["label"] = title
    if angle:
        slope = math.radians(abs(angle))
        spacing = axis_spacing(len(dims), left, right, scale, width)
        # A title ends at its axis and runs away to the left: the first ones need room left of the first axis.
        reach = max(_title_px(t) * math.cos(slope) - i * spacing for i, t in enumerate(fitted))
        left = int(max(left, reach + 10))
        room = TITLE_OFFSET_PX + max(_title_px(t) for t in fitted) * math.sin(slope) + TITLE_LINE_PX
        angle = angle if side == "bottom" else -angle  # plotly mirrors the tilt of titles over the axes
    else:
        right = _right_margin(dims, scale)
        room = TITLE_OFFSET_PX + TITLE_LINE_PX * max(len(_title_lines(t)) for t in fitted)
    return {"trace": {"labelangle": angle, "labelside": side}, "l": left, "r": right, "room": int(math.ceil(room))}


def thin_ticks(dim: dict[str, Any]) -> dict[str, Any]:
    """Drop tick labels closer than TICK_GAP of the axis's span to the one kept below them (the ends are kept), so
    none prints over another ('112' over '100' on a log axis of epochs); the lines still reach every value."""
    vals, text = list(dim.get("tickvals") or []), list(dim.get("ticktext") or [])
    if len(vals) < 3:
        return dim
    low, high = (dim["range"] if dim.get("range") else (min(vals), max(vals)))
    gap = TICK_GAP * (high - low)
    order = sorted(range(len(vals)), key=lambda i: vals[i])
    keep = [order[0]]
    for i in order[1:-1]:
        if vals[i] - vals[keep[-1]] >= gap and vals[order[-1]] - vals[i] >= gap:
            keep.append(i)
    keep.append(order[-1])
    dim.update(tickvals=[vals[i] for i in keep], ticktext=[text[i] for i in keep])
    return dim


def _left_margin(dims: Sequence[Mapping[str, Any]]) -> int:
    """Room left of the first axis for its tick labels (category names print to the left of the axis)."""
    if not dims:
        return 60
    longest = max((len(str(t)) for t in dims[0].get("ticktext") or []), default=0)
    return int(min(220, max(60, 7 * longest + 16)))


def _right_margin(dims: Sequence[Mapping[str, Any]], scale: bool) -> int:
    """Room right of the last axis: the colour scale's, or without one half the last axis's title (titles are
    centred under their axis, so a long last one ran off the chart)."""
    if scale or not dims:
        return 40
    longest = max(len(line) for line in str(dims[-1].get("label", "")).split("<br>"))
    return int(min(160, max(40, 3.5 * longest + 12)))


def figure_html(fig: go.Figure) -> bytes:
    """A figure as a standalone HTML page (UTF-8) with plotly.js inside it: it opens offline, fetches nothing from
    a CDN, and the same figure gives the same bytes (a fixed div id)."""
    return fig.to_html(include_plotlyjs=True, full_html=True, div_id="multilabel-figure",
                       config={"displaylogo": False}).encode("utf-8")


def at_epoch(figure: go.Figure, epoch: Optional[int]) -> go.Figure:
    """``figure`` with " (epoch N)" added to its title (the live view's figures say which epoch they show)."""
    figure.layout.title.text = _at_epoch(figure.layout.title.text or "", epoch)
    return figure


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
