"""The Inspect page's two polling views: a live (or ended) run's per-label curves at its newest published epoch
(the worker publishes them, see callbacks.LiveValidation), and the network as a diagram with its per-epoch weight norms,
gradient norms and dead-ReLU share. Each is a fragment that redraws itself every ``poll_s`` while the run trains.
A browser session that opens on the page leaves the charts out of its first draw (``charts=False``) and draws them a
moment later (``first_draw``, ``charts_later``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import streamlit as st

from multilabel import MultilabelError
from multilabel.analysis import (LabelCurves, Tradeoff, confusion_matrices, label_curves, live_picture,
                                 model_picture, network_history)
from multilabel.charts import (at_epoch, confusion_grid_figure, network_curves_figure, network_figure,
                               pr_curve_figure, roc_curve_figure)
from multilabel.session import SessionRegistry
from multilabel.store import RunStore
from multilabel.words import count
from app_pages._nav import CHARTS_AFTER_S, DRAWING, first_page
from app_pages._shared import model_from_store, plain
from app_pages._words import saved_model_words, score_or_na

# A browser session that opens on Inspect sends the page's numbers alone first and has the browser ask for the whole
# page again, charts included, CHARTS_AFTER_S later.
CHARTS_DRAWN, TICKS = "inspect_charts_drawn", "inspect_charts_ticks"


def first_draw() -> bool:
    """Whether to leave the charts out of this draw: the page's first in a browser session that opened on it (a new
    tab, a link, a reload), whose browser has not loaded plotly yet. Come to from another page, it draws them."""
    if st.session_state.get(CHARTS_DRAWN):
        return False
    st.session_state[CHARTS_DRAWN] = True
    return first_page("Inspect")


def charts_later() -> None:
    """After a first draw: a fragment whose first timer tick (``CHARTS_AFTER_S`` later) redraws the whole page, which
    then has its charts; it renders nothing, and the redrawn page no longer declares it, so it ticks once."""

    @st.fragment(run_every=CHARTS_AFTER_S)
    def tick() -> None:
        st.session_state[TICKS] = st.session_state.get(TICKS, 0) + 1
        if st.session_state[TICKS] > 1:  # the timer's call, not the declaring run's
            st.rerun()

    st.session_state[TICKS] = 0
    tick()


def tradeoff_view(cols: list, point, shown: LabelCurves, key: str = "", epoch: Optional[int] = None,
                  charts: bool = True) -> None:
    """One label at its threshold: precision, recall and F1 in the last three of ``cols``, then its PR and ROC curves
    side by side (marked with ``epoch`` on a live run; a line saying they come, without ``charts``)."""
    cols[-3].metric("Precision", score_or_na(point.precision))
    cols[-2].metric("Recall", score_or_na(point.recall))
    cols[-1].metric("F1", f"{point.f1:.3f}")
    if not charts:
        st.caption(DRAWING)
        return
    figures = [pr_curve_figure(shown, point), roc_curve_figure(shown, point)]
    if epoch is not None:
        figures = [at_epoch(figure, epoch) for figure in figures]
    a, b = st.columns(2)
    a.plotly_chart(figures[0], key=f"{key}pr_chart")
    b.plotly_chart(figures[1], key=f"{key}roc_chart")


@st.cache_resource(show_spinner=False, max_entries=4)
def live_snapshot(_store: RunStore, run_id: str, mtime: float) -> Optional[tuple[dict, Tradeoff]]:
    """A run's newest published epoch (RunStore.load_live_validation) and its trade-off lookup, once per version."""
    snap = _store.load_live_validation(run_id)
    return None if snap is None else (snap, Tradeoff(snap["probs"], snap["targets"]))


@st.cache_resource(show_spinner=False, max_entries=16)
def live_curves(_store: RunStore, run_id: str, mtime: float, label: int, name: str) -> LabelCurves:
    snap, _ = live_snapshot(_store, run_id, mtime)  # type: ignore[misc]  # the caller checked it
    return label_curves(snap["probs"], snap["targets"], label, name)


def live_file(store: RunStore, run_id: str) -> tuple[Optional[float], Optional[tuple[dict, Tradeoff]]]:
    path = store.live_validation_path(run_id)
    try:
        mtime = path.stat().st_mtime_ns / 1e9
    except OSError:
        return None, None
    return mtime, live_snapshot(store, run_id, mtime)


def ended_since(store: RunStore, run_id: str, was_live: bool) -> None:
    """In a polling fragment: once the run that was live has ended, redraw the whole page (the finished view)."""
    if was_live and store.get_run(run_id)["status"] != "running":
        st.rerun()


def live_labels(store: RunStore, run_id: str, was_live: bool, poll_s: Optional[float], charts: bool = True) -> None:
    """Per-label curves and confusion of the newest published epoch of a run that has not finished (``charts``:
    False on a first draw, see ``tradeoff_view``)."""

    @st.fragment(run_every=poll_s)
    def body() -> None:
        ended_since(store, run_id, was_live)
        now = store.get_run(run_id)
        mtime, loaded = live_file(store, run_id)
        if loaded is None:
            st.info("Training: the curves come with the run's first evaluated epoch.")
            return
        snap, tradeoff = loaded
        epoch = snap["epoch"]
        names = list((now["info"] or {}).get("label_names") or [f"label_{j}" for j in range(snap["probs"].shape[1])])
        state = ("live: refreshes as the run trains" if was_live
                 else f"the run is {now['status']}; this is the last epoch it published")
        rows = count(len(snap["probs"]), "validation row")
        st.caption(f"Epoch {epoch} of {now['config'].get('epochs')} · {rows} · that epoch's weights (not the best so "
                   f"far) · {state}.")
        st.subheader(f"Per-label curves (epoch {epoch})")
        pick, cut = st.columns([2, 3])
        label = pick.selectbox("Label", range(len(names)), format_func=lambda j: names[j],
                               key=f"inspect_live_label_{run_id}")
        threshold = cut.slider("Threshold (every label, this view only)", 0.0, 1.0, 0.5, 0.01,
                               key=f"inspect_live_thr_{run_id}")
        point = tradeoff.at(label, threshold)
        tradeoff_view(st.columns(3), point, live_curves(store, run_id, mtime, label, names[label]), "live_", epoch,
                      charts)
        if not charts:
            return
        st.subheader(f"Confusion per label (epoch {epoch})")
        grid = confusion_matrices(snap["probs"], snap["targets"], [threshold] * len(names), names)
        st.plotly_chart(at_epoch(confusion_grid_figure(grid), epoch), key="live_confusion_chart")

    body()


def network_view(reg: SessionRegistry, run_id: str, was_live: bool, poll_s: Optional[float],
                 charts: bool = True) -> None:
    """The net as a diagram and its per-epoch weight norms, gradient norms and dead-ReLU share (the diagram's caption
    and a line saying they come, without ``charts``)."""
    store = reg.store

    @st.fragment(run_every=poll_s)
    def body() -> None:
        ended_since(store, run_id, was_live)
        view = reg.view(run_id)
        columns = network_history(view.history)
        _, loaded = live_file(store, run_id)
        picture, epoch, source = None, None, ""
        if loaded is not None and loaded[0]["weights"] is not None:
            snap = loaded[0]
            picture, epoch = live_picture(snap, view.info), snap["epoch"]
            source = f"the weights of epoch {epoch}" + ("" if was_live else " (the last evaluated epoch; the saved "
                                                        f"model: {saved_model_words(view)})")
        elif view.checkpoint and Path(view.checkpoint).is_file():  # a big net: the saved (best so far) weights
            try:
                trained = model_from_store(view.checkpoint)
            except (MultilabelError, OSError) as exc:
                st.error(plain(f"cannot load the model of run {run_id}: {exc}"))
            else:
                picture = model_picture(trained)
                saved = saved_model_words(view) if view.best else f"best epoch {trained.metrics.get('epoch')}"
                source = (f"the saved model's weights ({saved}; dead units unknown"
                          + ("; a net this large is not published every epoch)" if loaded is not None else ")"))
        if picture is None:
            if not was_live:
                st.info("This run has no weights to draw.")
            elif loaded is None:
                st.info("The picture comes with the run's first evaluated epoch.")
            else:
                st.info("The picture comes with the run's first saved checkpoint (a net this large is not published "
                        "every epoch).")
        else:
            st.caption(f"Drawn from {source}. Edges: blue positive, red negative, thicker = larger |weight|; nodes "
                       "coloured by weight norm; a grey cross is a dead ReLU (0 on every validation row).")
            if charts:
                st.plotly_chart(network_figure(picture, epoch=epoch), key="network_chart")
        if not charts:
            if picture is not None or columns["epoch"]:
                st.caption(DRAWING)
        elif columns["epoch"]:
            last = columns["epoch"][-1]
            st.plotly_chart(network_curves_figure(columns, epoch=last), key="network_curves_chart")
            st.caption(f"Dead ReLUs at epoch {last}: {columns['dead_relu'][-1]:.0%} of the hidden units. Gradient "
                       "norms are the last step's of each evaluated epoch.")
        elif was_live:
            st.info("The curves come with the run's first evaluated epoch.")

    body()
