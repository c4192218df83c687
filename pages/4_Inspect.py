"""Inspect page: a run's per-label PR/ROC curves and confusion matrices on its validation split, and its network.

- A finished run: the best weights' curves, the threshold trade-off per label, and saving chosen thresholds into
  the run's model (which Predict then uses).
- A live run: the same curves and confusion grid for its newest evaluated epoch (the worker publishes them, see
  engine.LiveValidation), refreshed while it trains.
- Network: the net as a diagram (input -> hidden -> outputs, coloured by weight norms, dead ReLUs marked) and the
  per-epoch weight norms, gradient norms and dead-ReLU share, live or finished.
"""

from pathlib import Path
from typing import Optional

import streamlit as st

from app_pages._nav import page

page("Inspect")
st.title("Inspect")  # before the heavy imports: the page paints at once

import numpy as np  # noqa: E402

from multilabel import MultilabelError  # noqa: E402
from multilabel.analysis import (LabelCurves, Tradeoff, confusion_matrices, label_curves,  # noqa: E402
                                 network_history, network_picture, save_thresholds, summary_at)
from multilabel.charts import (at_epoch, confusion_grid_figure, network_curves_figure, network_figure,  # noqa: E402
                               pr_curve_figure, roc_curve_figure)
from multilabel.metrics import tune_thresholds  # noqa: E402
from multilabel.store import FINISHED, RunStore  # noqa: E402
from app_pages._export import onnx_button  # noqa: E402
from app_pages._shared import model_from_store, plain, registry  # noqa: E402


@st.cache_resource(show_spinner=False, max_entries=4)
def validation(_store: RunStore, run_id: str, mtime: float) -> Optional[tuple[np.ndarray, np.ndarray, Tradeoff]]:
    """A run's stored validation split and its trade-off lookup, built once per file version (None if unreadable)."""
    loaded = _store.load_validation(run_id)
    return None if loaded is None else (*loaded, Tradeoff(*loaded))


@st.cache_resource(show_spinner=False, max_entries=64)
def curves(_store: RunStore, run_id: str, mtime: float, label: int, name: str) -> LabelCurves:
    probs, targets, _ = validation(_store, run_id, mtime)  # type: ignore[misc]  # the page checked it
    return label_curves(probs, targets, label, name)


def set_sliders(run_id: str, values: list[float]) -> None:
    """A button callback: it runs before the script, so the sliders are drawn with these values."""
    for j, value in enumerate(values):
        st.session_state[f"inspect_thr_{run_id}_{j}"] = round(float(value), 2)


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


LIVE_POLL_S = 1.0  # how often the live views look for a newer epoch (the worker publishes at most every 0.5 s)


@st.cache_resource(show_spinner=False, max_entries=4)
def live_snapshot(_store: RunStore, run_id: str, mtime: float) -> Optional[tuple[dict, Tradeoff]]:
    """A run's newest published epoch (RunStore.load_live_validation) and its trade-off lookup, once per version."""
    snap = _store.load_live_validation(run_id)
    return None if snap is None else (snap, Tradeoff(snap["probs"], snap["targets"]))


@st.cache_resource(show_spinner=False, max_entries=16)
def live_curves(_store: RunStore, run_id: str, mtime: float, label: int, name: str) -> LabelCurves:
    snap, _ = live_snapshot(_store, run_id, mtime)  # type: ignore[misc]  # the caller checked it
    return label_curves(snap["probs"], snap["targets"], label, name)


def live_file(run_id: str) -> tuple[Optional[float], Optional[tuple[dict, Tradeoff]]]:
    path = store.live_validation_path(run_id)
    try:
        mtime = path.stat().st_mtime_ns / 1e9
    except OSError:
        return None, None
    return mtime, live_snapshot(store, run_id, mtime)


def ended_since(run_id: str, was_live: bool) -> None:
    """In a polling fragment: once the run that was live has ended, redraw the whole page (the finished view)."""
    if was_live and store.get_run(run_id)["status"] != "running":
        st.rerun()


def live_labels(run_id: str, was_live: bool, poll_s: Optional[float]) -> None:
    """Per-label curves and confusion of the newest published epoch of a run that has not finished."""

    @st.fragment(run_every=poll_s)
    def body() -> None:
        ended_since(run_id, was_live)
        now = store.get_run(run_id)
        mtime, loaded = live_file(run_id)
        if loaded is None:
            st.info("Training: the curves come with the run's first evaluated epoch.")
            return
        snap, tradeoff = loaded
        epoch = snap["epoch"]
        names = list((now["info"] or {}).get("label_names") or [f"label_{j}" for j in range(snap["probs"].shape[1])])
        state = ("live: refreshes as the run trains" if was_live
                 else f"the run is {now['status']}; this is the last epoch it published")
        st.caption(f"Epoch {epoch} of {now['config'].get('epochs')} · {len(snap['probs']):,} validation rows · "
                   f"that epoch's weights (not the best so far) · {state}.")
        st.subheader(f"Per-label curves (epoch {epoch})")
        pick, cut = st.columns([2, 3])
        label = pick.selectbox("Label", range(len(names)), format_func=lambda j: names[j],
                               key=f"inspect_live_label_{run_id}")
        threshold = cut.slider("Threshold (every label, this view only)", 0.0, 1.0, 0.5, 0.01,
                               key=f"inspect_live_thr_{run_id}")
        point = tradeoff.at(label, threshold)
        c = st.columns(3)
        c[0].metric("Precision", fmt(point.precision))
        c[1].metric("Recall", fmt(point.recall))
        c[2].metric("F1", f"{point.f1:.3f}")
        shown = live_curves(store, run_id, mtime, label, names[label])
        a, b = st.columns(2)
        a.plotly_chart(at_epoch(pr_curve_figure(shown, point), epoch), key="live_pr_chart")
        b.plotly_chart(at_epoch(roc_curve_figure(shown, point), epoch), key="live_roc_chart")
        st.subheader(f"Confusion per label (epoch {epoch})")
        grid = confusion_matrices(snap["probs"], snap["targets"], [threshold] * len(names), names)
        st.plotly_chart(at_epoch(confusion_grid_figure(grid), epoch), key="live_confusion_chart")

    body()


def network_view(run_id: str, was_live: bool, poll_s: Optional[float]) -> None:
    """The net as a diagram and its per-epoch weight norms, gradient norms and dead-ReLU share."""

    @st.fragment(run_every=poll_s)
    def body() -> None:
        ended_since(run_id, was_live)
        view = reg.view(run_id)
        columns = network_history(view.history)
        _, loaded = live_file(run_id)
        names = view.info or {}
        picture, epoch, source = None, None, ""
        if loaded is not None and loaded[0]["weights"] is not None:
            snap = loaded[0]
            picture = network_picture(*snap["weights"], snap["alive"], names.get("feature_names"),
                                      names.get("label_names"))
            epoch = snap["epoch"]
            source = f"the weights of epoch {epoch}" + ("" if was_live else " (the last evaluated epoch; the saved "
                                                        f"model keeps epoch {(view.best or {}).get('epoch')}'s)")
        elif view.checkpoint and Path(view.checkpoint).is_file():  # a big net: the saved (best so far) weights
            try:
                trained = model_from_store(view.checkpoint)
            except (MultilabelError, OSError) as exc:
                st.error(plain(f"cannot load the model of run {run_id}: {exc}"))
            else:
                net = trained.model.net
                picture = network_picture(net[0].weight.detach().numpy(), net[-1].weight.detach().numpy(), None,
                                          trained.feature_names, trained.label_names)
                best = (view.best or {}).get("epoch") or trained.metrics.get("epoch")
                source = (f"the saved model's weights (best epoch {best}; dead units unknown"
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
            st.plotly_chart(network_figure(picture, epoch=epoch), key="network_chart")
        if columns["epoch"]:
            last = columns["epoch"][-1]
            st.plotly_chart(network_curves_figure(columns, epoch=last), key="network_curves_chart")
            st.caption(f"Dead ReLUs at epoch {last}: {columns['dead_relu'][-1]:.0%} of the hidden units. Gradient "
                       "norms are the last step's of each evaluated epoch.")
        elif was_live:
            st.info("The curves come with the run's first evaluated epoch.")

    body()


reg = registry()
store = reg.store
flash = st.session_state.pop("inspect_flash", None)
if flash:
    st.success(flash)


def viewable(run: dict) -> bool:
    """Finished runs with a model, live runs, and ended ones (stopped by a crash) that published a live epoch."""
    if run["status"] in FINISHED:
        return bool(run["checkpoint"])
    return run["status"] == "running" or store.live_validation_path(run["id"]).is_file()


def option(run: dict) -> str:
    # Nothing that changes in the option text (status, epochs, metrics): the browser keeps showing the text it drew
    # first for the selected value, so a run that ends would still read "training". The status line is below.
    return run["name"] if run["name"] == run["id"] else f"{run['name']} · {run['id']}"


def status_line(run: dict) -> str:
    if run["status"] == "running":
        return f"Training now · the views follow its newest evaluated epoch (every {LIVE_POLL_S:g} s)."
    best = (run["best"] or {}).get("epoch")
    return f"{run['status'].replace('_', ' ').capitalize()} · {run['epochs_done']} epochs" + (
        f" · best epoch {best}" if best else "") + "."


runs = [r for r in store.list_runs() if viewable(r)]
if not runs:
    st.info("No runs yet: train one on the Train page, then inspect it here (live while it trains).")
    st.stop()
by_id = {r["id"]: r for r in runs}
ids = list(by_id)
wanted = st.query_params.get("run")
if wanted and wanted not in by_id:  # a stale or mistyped link: say so (as Predict and Search do), then open the newest
    st.warning(f"No run {plain(wanted)} to inspect in this run store (unknown, deleted, or without a model yet); "
               "showing the newest run instead.")
run_id = st.selectbox("Run", ids, index=ids.index(wanted) if wanted in by_id else 0, key="inspect_run",
                      format_func=lambda i: option(by_id[i]))
st.query_params["run"] = run_id
run = by_id[run_id]
live = run["status"] == "running"
st.caption(status_line(run), help="Pick another run above; a link to this page with ?run=<id> opens that run.")
VIEWS = ("Per-label", "Network")
wanted_view = st.query_params.get("view")
shown_view = st.radio("View", VIEWS, index=VIEWS.index(wanted_view) if wanted_view in VIEWS else 0, horizontal=True,
                      key="inspect_view", label_visibility="collapsed")
if shown_view == VIEWS[0]:
    st.query_params.pop("view", None)
else:
    st.query_params["view"] = shown_view
poll_s = LIVE_POLL_S if live else None

if shown_view == "Network":
    network_view(run_id, live, poll_s)
    st.stop()
if run["status"] not in FINISHED:
    live_labels(run_id, live, poll_s)
    st.stop()

val_path = store.validation_path(run_id)
mtime = val_path.stat().st_mtime if val_path.is_file() else None
loaded = validation(store, run_id, mtime) if mtime is not None else None
if loaded is None:
    st.info("This run has no stored validation data (it was trained before runs kept it): retrain it to inspect it.")
    st.stop()
try:
    trained = model_from_store(str(store.checkpoint_path(run_id)))
except (MultilabelError, OSError) as exc:
    st.error(plain(f"cannot load the model of run {run_id}: {exc}"))
    st.stop()
probs, targets, tradeoff = loaded
names = list(trained.label_names)
saved = list(trained.thresholds)
st.caption(f"{len(probs):,} validation rows · {len(names)} labels · best epoch {(run['best'] or {}).get('epoch')}. "
           "A row gets label 1 where its probability is at least the label's threshold.")

curves_box = st.container()

# -- thresholds: the sliders run first so every view uses their values; the curves are drawn above them -------
st.subheader("Thresholds and their trade-off on validation")
st.caption("Move a label's threshold: its validation precision, recall and F1 follow at once. Saved thresholds "
           "are the model's (what Predict uses).")
cols = st.columns(min(3, len(names)))
thresholds = []
for j, name in enumerate(names):
    box = cols[j % len(cols)]
    key = f"inspect_thr_{run_id}_{j}"
    if key not in st.session_state:  # the value lives in the key alone: Reset and Best F1 write it (set_sliders)
        st.session_state[key] = round(float(saved[j]), 2)
    t = box.slider(plain(name), 0.0, 1.0, step=0.01, key=key)
    thresholds.append(t)
    p = tradeoff.at(j, t)
    box.caption(f"precision {fmt(p.precision)} · recall {fmt(p.recall)} · F1 {p.f1:.3f} "
                f"(TP {p.tp}, FP {p.fp}, FN {p.fn}) · saved {saved[j]:.2f}")

now, before = summary_at(probs, targets, thresholds), summary_at(probs, targets, saved)
m = st.columns(4)
for col, key, title in zip(m, ("micro_f1", "macro_f1", "hamming_loss", "subset_accuracy"),
                           ("Val micro-F1", "Val macro-F1", "Val Hamming loss", "Val subset accuracy")):
    delta = now[key] - before[key]
    col.metric(title, f"{now[key]:.3f}", f"{delta:+.3f} vs saved" if abs(delta) > 5e-4 else None,
               delta_color="inverse" if key == "hamming_loss" else "normal")

changed = [j for j in range(len(names)) if abs(thresholds[j] - saved[j]) > 1e-6]  # sliders move in 0.01 steps
save_col, reset_col, tune_col, onnx_col = st.columns([3, 2, 3, 4])
onnx_button(onnx_col, lambda: trained, f"{run_id}.onnx", "inspect_onnx")  # the saved thresholds, as Predict's
reset_col.button("Reset to saved", key="reset_thresholds", disabled=not changed, on_click=set_sliders,
                 args=(run_id, saved))
tune_col.button("Best F1 per label", key="tune_thresholds",
                on_click=lambda: set_sliders(run_id, tune_thresholds(probs, targets)),
                help="each label's threshold on a 0.05 grid that maximizes its F1 on these validation rows (an "
                     "optimistic estimate: the same rows choose and score)")
if save_col.button("Save thresholds into the model", type="primary", key="save_thresholds", disabled=not changed,
                   help="writes a new checkpoint for this run with these thresholds; Predict uses them from then on"):
    try:
        best = save_thresholds(store, run_id, thresholds)
    except MultilabelError as exc:
        st.error(plain(str(exc)))
    else:
        st.session_state["inspect_flash"] = (f"Saved into run {run_id}'s model: "
                                             + ", ".join(f"{plain(names[j])} {thresholds[j]:.2f}" for j in changed)
                                             + f". Val micro-F1 is now {best['micro_f1']:.3f}.")
        st.rerun()

# -- one label's curves ------------------------------------------------------------------------------------------
with curves_box:
    st.subheader("Per-label curves")
    label = st.selectbox("Label", range(len(names)), format_func=lambda j: names[j], key=f"inspect_label_{run_id}")
    point = tradeoff.at(label, thresholds[label])
    c = st.columns(4)
    c[0].metric(f"Threshold · {plain(names[label])}", f"{thresholds[label]:.2f}")
    c[1].metric("Precision", fmt(point.precision))
    c[2].metric("Recall", fmt(point.recall))
    c[3].metric("F1", f"{point.f1:.3f}")
    shown = curves(store, run_id, mtime, label, names[label])
    a, b = st.columns(2)
    a.plotly_chart(pr_curve_figure(shown, point), key="pr_chart")
    b.plotly_chart(roc_curve_figure(shown, point), key="roc_chart")

# -- every label's confusion -------------------------------------------------------------------------------------
st.subheader("Confusion per label")
st.plotly_chart(confusion_grid_figure(confusion_matrices(probs, targets, thresholds, names)), key="confusion_chart")
