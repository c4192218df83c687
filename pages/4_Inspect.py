"""Inspect page: a run's per-label PR/ROC curves and confusion matrices on its validation split, and its network.

A finished run: the best weights' curves, the threshold trade-off per label, and saving chosen thresholds into the
run's model (which Predict then uses). A live run, and the Network view: app_pages/_inspect_views.py.
"""

from typing import Optional

import streamlit as st

from app_pages._nav import DRAWING, arrived, page, while_shown

page("Inspect")
st.title("Inspect")  # before the heavy imports: the page paints at once

import numpy as np  # noqa: E402

from multilabel import MultilabelError  # noqa: E402
from multilabel.analysis import (LabelCurves, Tradeoff, confusion_matrices, inspectable_runs,  # noqa: E402
                                 label_curves, save_thresholds, summary_at)
from multilabel.charts import confusion_grid_figure  # noqa: E402
from multilabel.experiments import RunLink  # noqa: E402
from multilabel.metrics import tune_thresholds  # noqa: E402
from multilabel.store import FINISHED, RunStore  # noqa: E402
from multilabel.words import count  # noqa: E402
from app_pages._export import onnx_button  # noqa: E402
from app_pages._inspect_views import (charts_later, first_draw, live_labels, network_view,  # noqa: E402
                                      tradeoff_view)
from app_pages._shared import model_from_store, plain, registry, widget_label  # noqa: E402
from app_pages._words import inspect_option, inspect_status_line, score_or_na as fmt  # noqa: E402

LIVE_POLL_S = 1.0  # how often the live views look for a newer epoch (the worker publishes at most every 0.5 s)


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


reg = registry()
store = reg.store
flash = st.session_state.pop("inspect_flash", None)
if flash:
    st.success(flash)


runs = inspectable_runs(store)
if not runs:
    st.info("No runs yet: train one on the Train page, then inspect it here (live while it trains).")
    st.stop()
by_id = {r["id"]: r for r in runs}
ids = list(by_id)
link = RunLink(st.session_state, "inspect")
target = link.follow(st.query_params.get("run"), ids, arrived())
if target is not None:
    st.session_state["inspect_run"] = target
elif st.session_state.get("inspect_run") not in by_id:
    st.session_state.pop("inspect_run", None)  # deleted meanwhile: the newest
missing = link.missing_run()
if missing:  # a stale or mistyped link: said (as Predict and Search do) while the newest run stands in for it
    st.warning(f"No run {plain(missing)} to inspect in this run store (unknown, deleted, or without a model yet); "
               "showing the newest run instead.")
run_id = st.selectbox("Run", ids, key="inspect_run", on_change=link.picked,
                      format_func=lambda i: inspect_option(by_id[i]))
st.query_params["run"] = run_id
link.shown(run_id)
run = by_id[run_id]
live = run["status"] == "running"
st.caption(inspect_status_line(run, LIVE_POLL_S),
           help="Pick another run above; a link to this page with ?run=<id> opens that run.")
VIEWS = ("Per-label", "Network")
wanted_view = st.query_params.get("view")
shown_view = st.radio("View", VIEWS, index=VIEWS.index(wanted_view) if wanted_view in VIEWS else 0, horizontal=True,
                      key="inspect_view", label_visibility="collapsed")
if shown_view == VIEWS[0]:
    st.query_params.pop("view", None)
else:
    st.query_params["view"] = shown_view
poll_s = while_shown(LIVE_POLL_S if live else None)
charts = not first_draw()  # opened here (a new tab): the numbers now, the charts a moment later
if not charts:
    charts_later()

if shown_view == "Network":
    network_view(reg, run_id, live, poll_s, charts)
    st.stop()
if run["status"] not in FINISHED:
    live_labels(store, run_id, live, poll_s, charts)
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
st.caption(f"{count(len(probs), 'validation row')} · {count(len(names), 'label')} · "
           f"best epoch {(run['best'] or {}).get('epoch')}. "
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
    t = box.slider(widget_label(name), 0.0, 1.0, step=0.01, key=key)
    thresholds.append(t)
    p = tradeoff.at(j, t)
    box.caption(f"precision {fmt(p.precision)} · recall {fmt(p.recall)} · F1 {p.f1:.3f} "
                f"(TP {p.tp}, FP {p.fp}, FN {p.fn}) · saved {saved[j]:.2f}")

now, before = summary_at(probs, targets, thresholds), summary_at(probs, targets, saved)
m = st.columns(4)
for col, key, title in zip(m, ("micro_f1", "macro_f1", "hamming_loss", "subset_accuracy"),
                           ("Val micro-F1", "Val macro-F1", "Val Hamming loss", "Val subset accuracy")):
    delta = now[key] - before[key]
    digits = 4 if key == "hamming_loss" else 3  # Hamming loss with 4 decimals on every page
    col.metric(title, f"{now[key]:.{digits}f}", f"{delta:+.{digits}f} vs saved" if abs(delta) > 5e-4 else None,
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
    c[0].metric(f"Threshold · {widget_label(names[label])}", f"{thresholds[label]:.2f}")
    tradeoff_view(c, point, curves(store, run_id, mtime, label, names[label]), charts=charts)

# -- every label's confusion -------------------------------------------------------------------------------------
st.subheader("Confusion per label")
if charts:
    st.plotly_chart(confusion_grid_figure(confusion_matrices(probs, targets, thresholds, names)), key="confusion_chart")
else:
    st.caption(DRAWING)
