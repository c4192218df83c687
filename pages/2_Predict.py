"""Predict page: a model (from a run or an uploaded checkpoint) + a CSV -> per-label probabilities and labels."""

import hashlib
import io
from pathlib import Path

import streamlit as st

from app_pages._nav import page

page("Predict")
st.title("Predict")

import numpy as np  # noqa: E402  (heavy imports after the title is on screen)
import pandas as pd  # noqa: E402

from multilabel import MultilabelError, load_checkpoint  # noqa: E402
from multilabel.analysis import Tradeoff, all_label_curves, confusion_matrices, summary_at  # noqa: E402
from multilabel.charts import (confusion_grid_figure, label_frequency_figure, pr_curve_figure,  # noqa: E402
                               roc_curve_figure)
from multilabel.predict import PROB_SUFFIX, label_frame, predict_frame  # noqa: E402
from multilabel.predictview import (checkpoint_refusal, column_widths, file_labels, model_choices, notes_to_show,  # noqa: E402
                                   predicted_column, scored_fingerprint, shown_frame, training_rows_note)
from multilabel.words import count  # noqa: E402
from app_pages import _upload  # noqa: E402
from app_pages._export import onnx_button  # noqa: E402
from app_pages._keys import ENSEMBLE_PREFIX, PREDICT_RUN  # noqa: E402
from app_pages._shared import error, model_from_store, plain, registry, warning, widget_label  # noqa: E402
from app_pages._words import model_label, threshold_origin  # noqa: E402

SHOWN_ROWS = 1000
TABLE_PX = 930  # the page's width for a table at a 1400 px window with the sidebar open

# -- the model ---------------------------------------------------------------------------------------------------
# Runs with a checkpoint, then the ensembles that searches on the Search page built ("search:<study>").
models = model_choices(registry().store, ENSEMBLE_PREFIX)
# Which model to preselect: a new ?model= link (Search's "use" button, a copied URL), else a model handed over by
# another page since the last visit (st.session_state[PREDICT_RUN], set by Train and Runs), else the last choice.
# ?run=<id> as on Train and Inspect: the same model as ?model=<id>.
link, handed = st.query_params.get("model") or st.query_params.get("run"), st.session_state.get(PREDICT_RUN)
target = None
if link and link != st.session_state.get("predict_linked"):
    target = st.session_state["predict_linked"] = link
    if link not in models:
        st.warning(f"The model {plain(link)} of the link is not in this run store; pick another one.")
elif handed and handed != st.session_state.get("predict_handed"):
    target = handed
st.session_state["predict_handed"] = handed
choice = st.radio("Model", ["From a run", "Upload a checkpoint"], horizontal=True, key="model_source",
                  index=0 if models else 1)
trained, model_key = None, None
if choice == "From a run":
    if not models:
        st.info("No finished runs yet: train one on the Train page (or build an ensemble on the Search page), or "
                "upload a checkpoint.")
    else:
        ids = list(models)
        if target in models:
            st.session_state["predict_run_select"] = target
        elif "predict_run_select" not in st.session_state and st.session_state.get("predict_last") in models:
            st.session_state["predict_run_select"] = st.session_state["predict_last"]  # back on the page
        run_id = st.selectbox("Run or ensemble", ids, key="predict_run_select",
                              format_func=lambda i: model_label(models[i]))
        st.session_state["predict_last"] = run_id
        if link != run_id:
            st.query_params["model"] = run_id  # a reload or a copied link keeps the model
        st.session_state["predict_linked"] = run_id  # the page's own link, not a new one
        try:
            trained = model_from_store(models[run_id]["checkpoint"])
            model_key = run_id
        except (MultilabelError, OSError) as exc:
            error(f"cannot load the checkpoint of {run_id}: {exc}")
else:
    # No type=: the uploader kept each refused file as a red chip beside the checkpoint; one file, checked here.
    upload = st.file_uploader("Checkpoint (.pt saved by multilabel)", key="ckpt_upload", accept_multiple_files=False)
    refused = checkpoint_refusal(upload.name) if upload is not None else None
    if refused:
        error(refused)
    elif upload is not None:
        raw = upload.getvalue()
        try:
            trained = load_checkpoint(io.BytesIO(raw), name=f"'{upload.name}'")  # weights_only: code never runs
            model_key = hashlib.sha1(raw).hexdigest()[:12]
        except MultilabelError as exc:
            error(exc)

if trained is None:
    st.stop()

st.caption(f"{count(len(trained.feature_names), 'feature')} → {count(len(trained.label_names), 'label')}: "
           + ", ".join(plain(name) for name in trained.label_names))
onnx_name = (Path(upload.name).stem if choice != "From a run" else model_key.replace(":", "-")) + ".onnx"
onnx_button(st, lambda: trained, onnx_name, "download_onnx")

# -- thresholds ---------------------------------------------------------------------------------------------------
with st.expander("Per-label thresholds", expanded=False):
    st.caption("A row gets label 1 where its probability is at least the label's threshold. They start at the "
               f"model's own ({threshold_origin(trained.config.threshold_mode, trained.thresholds)}).")
    cols = st.columns(min(4, len(trained.label_names)))
    thresholds = [
        cols[j % len(cols)].slider(widget_label(label), 0.0, 1.0, float(trained.thresholds[j]), 0.01, key=f"thr_{model_key}_{j}")
        for j, label in enumerate(trained.label_names)
    ]

# -- the data -----------------------------------------------------------------------------------------------------
data = _upload.file("CSV or Parquet to score (the model's feature columns; other columns pass through)",
                    "predict_csv")
if data is None:
    st.stop()
# Score a file once per model; moving a threshold slider only re-cuts the cached probabilities.
label_cols = list(trained.label_names)
prob_cols = [c + PROB_SUFFIX for c in label_cols]
cache_key = (data.file_id, model_key)
cached = st.session_state.get("predict_cache")
if cached is None or cached[0] != cache_key:
    try:
        raw_frame = _upload.read(data)
        scored, plan = predict_frame(trained, raw_frame, name=f"'{data.name}'")
    except MultilabelError as exc:
        error(exc)
        st.stop()
    # A file that carries the model's label columns (a test split, say) gets the per-label analysis below, and its
    # rows' fingerprint tells whether they are the model's own training rows.
    truth, truth_problem = file_labels(raw_frame, label_cols, f"'{data.name}'")
    fingerprint = scored_fingerprint(raw_frame, plan.features, truth)
    cached = st.session_state["predict_cache"] = (cache_key, scored, plan, truth, truth_problem, fingerprint)
_, scored, plan, truth, truth_problem, fingerprint = cached
result = pd.concat([scored[plan.passthrough],
                    label_frame(trained, scored[prob_cols].to_numpy(), thresholds, index=scored.index)], axis=1)
for note in notes_to_show(plan.notes, truth is not None):  # label columns: said below, where they are compared
    warning(note)
if truth_problem:
    warning(f"{truth_problem}; so the file's labels are not compared with the predictions")
counts = [int(result[c].sum()) for c in label_cols]
st.markdown(f"**{count(len(result), 'row')} scored.** Each row's labels at or above the thresholds above, then each "
            f"label's probability (the download has a 0/1 column `<label>` and a `<label>{PROB_SUFFIX}` column for "
            "each).")
shown = shown_frame(result.head(SHOWN_ROWS), plan.passthrough, label_cols, PROB_SUFFIX)  # the rows shown
pass_px, predicted_px, prob_px = column_widths(len(plan.passthrough), label_cols, TABLE_PX)
st.dataframe(shown, hide_index=True,
             column_config={**{c: st.column_config.Column(width=pass_px) for c in plan.passthrough},
                            predicted_column(plan.passthrough): st.column_config.TextColumn(width=predicted_px),
                            **{c + PROB_SUFFIX: st.column_config.ProgressColumn(
                                c, min_value=0.0, max_value=1.0, format="%.3f", width=px,
                                help=plain(f"probability of {c} (column {c}{PROB_SUFFIX} in the download)"))
                               for c, px in zip(label_cols, prob_px)}})
if len(result) > SHOWN_ROWS:
    st.caption(f"showing the first {SHOWN_ROWS:,} rows; the download has all {len(result):,}")
st.plotly_chart(label_frequency_figure(label_cols, counts, len(result)), key="freq_chart")
# The file's bytes are made once per (file, model, thresholds) and kept: an unrelated rerun hands the button the
# very same bytes, so the file behind the link stays put. A click does not rerun the page ("ignore"): a rerun
# started by the click could retire the link the browser is still fetching.
download_key = (cache_key, tuple(round(t, 6) for t in thresholds))
kept = st.session_state.get("predict_download")
if kept is None or kept[0] != download_key:
    kept = st.session_state["predict_download"] = (download_key, result.to_csv(index=False).encode())
st.download_button("Download predictions (CSV)", kept[1], key="download", on_click="ignore",
                   file_name=data.name.rsplit(".", 1)[0] + "_predictions.csv", mime="text/csv", type="primary")

# -- the file's own labels against the predictions ----------------------------------------------------------------
if truth is None:
    st.stop()
st.subheader("Against this file's labels")
trained_on = models.get(model_key, {}).get("data") if model_key in models else None
own_rows = training_rows_note(trained_on, data.name, len(scored), fingerprint)
if own_rows:
    warning(own_rows)
st.caption(f"'{plain(data.name)}' carries the model's {count(len(label_cols), 'label column')}: the predictions "
           "are scored against them at the thresholds above (the download's columns of those names hold the "
           "predictions).")
probs = scored[prob_cols].to_numpy(dtype=np.float32, copy=True)  # writable: torch warns on read-only
analysis_key = cache_key
kept_analysis = st.session_state.get("predict_analysis")
if kept_analysis is None or kept_analysis[0] != analysis_key:  # curves once per (file, model); thresholds are cheap
    kept_analysis = st.session_state["predict_analysis"] = (
        analysis_key, all_label_curves(probs, truth, label_cols), Tradeoff(probs, truth))
_, curves, tradeoff = kept_analysis
overall = summary_at(probs, truth, thresholds)
a, b, c, d = st.columns(4)
a.metric("Micro-F1", f"{overall['micro_f1']:.3f}")
b.metric("Macro-F1", f"{overall['macro_f1']:.3f}")
c.metric("Hamming loss", f"{overall['hamming_loss']:.4f}")
d.metric("Subset accuracy", f"{overall['subset_accuracy']:.3f}")
points = tradeoff.all_at(thresholds)
# "truly 1" beside "predicted 1" (the chart above): one word, "positives", had stood for the file's own labels here.
st.dataframe(pd.DataFrame([{"label": name, "threshold": thresholds[j], "truly 1": curves[j].positives,
                            "predicted 1": counts[j],
                            "precision": points[j].precision, "recall": points[j].recall, "F1": points[j].f1,
                            "average precision": curves[j].average_precision, "AUROC": curves[j].auroc}
                           for j, name in enumerate(label_cols)]),
             hide_index=True, key="predict_label_metrics",
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("threshold", "precision", "recall", "F1", "average precision", "AUROC")})
j = st.selectbox("Label for the curves", range(len(label_cols)), format_func=lambda i: label_cols[i],
                 key=f"predict_curve_label_{model_key}")
left, right = st.columns(2)
left.plotly_chart(pr_curve_figure(curves[j], points[j]), key="predict_pr")
right.plotly_chart(roc_curve_figure(curves[j], points[j]), key="predict_roc")
grid = confusion_grid_figure(confusion_matrices(probs, truth, thresholds, label_cols))
grid.update_layout(title_text="Confusion per label at the current thresholds (this file; rate within the true class)")
st.plotly_chart(grid, key="predict_confusion")
