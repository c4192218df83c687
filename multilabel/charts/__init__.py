"""Plotly figure builders: pure functions of run data (histories, epoch records, prediction tables, trials).

They take the plain dicts the engine reports (see engine.train) and return ``plotly.graph_objects.Figure``; no
Streamlit, no I/O, so they are tested without a browser. Long histories are thinned for display.

One module per page it serves: ``training`` (Train), ``runs`` (Runs), ``curves`` (Inspect and Predict), ``network``
(Inspect), ``heads`` (Sigmoid vs softmax), ``search`` (Search); ``_base`` holds what they share. Every builder is
also importable from ``multilabel.charts`` itself.
"""

from ._base import (HIST_GAP_PX, HIST_ROW_PX, MARKERS_UP_TO, MAX_POINTS, NEG_COLOR, POS_COLOR, RUN_COLORS,
                    TOOLBAR_PX, TRAIN_COLOR, VAL_COLOR, FigureMemo, at_epoch, empty_figure, figure_html, thin)
from .curves import (CHANCE_COLOR, CURVE_POINTS, POINT_COLOR, confusion_grid_figure, label_frequency_figure,
                     pr_curve_figure, roc_curve_figure)
from .heads import (HEADS_FALSE_COLOR, HEADS_INSIDE_FROM, HEADS_PANEL_TITLES, HEADS_THRESHOLD, HEADS_TRAIN_COLOR,
                    HEADS_TRUE_COLOR, HEADS_VAL_COLOR, heads_loss_figure, heads_metrics_figure,
                    heads_probability_figure)
from .network import (NET_DEAD_COLOR, NET_EDGE_BINS, NET_NEG_COLOR, NET_POS_COLOR, network_curves_figure,
                      network_figure)
from .runs import MAX_TICKS, RAW_OPACITY, parallel_coordinates_figure, runs_overlay_figure, smoothed_overlay_figure
from .search import SEARCH_COLORSCALE, search_importance_figure, search_parallel_figure, search_progress_figure
from .training import loss_figure, metrics_figure, per_label_figure, probability_histogram_figure, probe_heatmap

__all__ = [
    "CHANCE_COLOR", "CURVE_POINTS", "FigureMemo", "HEADS_FALSE_COLOR", "HEADS_INSIDE_FROM", "HEADS_PANEL_TITLES",
    "HEADS_THRESHOLD",
    "HEADS_TRAIN_COLOR", "HEADS_TRUE_COLOR", "HEADS_VAL_COLOR", "HIST_GAP_PX", "HIST_ROW_PX", "MARKERS_UP_TO",
    "MAX_POINTS", "MAX_TICKS", "NEG_COLOR", "NET_DEAD_COLOR", "NET_EDGE_BINS", "NET_NEG_COLOR", "NET_POS_COLOR",
    "POINT_COLOR", "POS_COLOR", "RAW_OPACITY", "RUN_COLORS", "SEARCH_COLORSCALE", "TOOLBAR_PX", "TRAIN_COLOR",
    "VAL_COLOR", "at_epoch", "confusion_grid_figure", "empty_figure", "figure_html", "heads_loss_figure",
    "heads_metrics_figure", "heads_probability_figure", "label_frequency_figure", "loss_figure", "metrics_figure",
    "network_curves_figure", "network_figure", "parallel_coordinates_figure", "per_label_figure",
    "pr_curve_figure", "probability_histogram_figure", "probe_heatmap", "roc_curve_figure", "runs_overlay_figure",
    "search_importance_figure", "search_parallel_figure", "search_progress_figure", "smoothed_overlay_figure",
    "thin",
]
