"""Predict page: a model (from a run or an uploaded checkpoint) + a CSV -> per-label probabilities and labels."""

import hashlib
import io

import streamlit as st

from app_pages._nav import page

page("Predict")
st.title("Predict")

import pandas as pd  # noqa: E402  (heavy imports after the title is on screen)

from multilabel import MultilabelError, load_checkpoint, read_csv  # noqa: E402
from multilabel.charts import label_frequency_figure  # noqa: E402
from multilabel.predict import PROB_SUFFIX, label_frame, predict_frame  # noqa: E402
from multilabel.store import WITH_MODEL  # noqa: E402
from app_pages._shared import model_from_store, registry  # noqa: E402
from app_pages._words import for_page, status_word  # noqa: E402

SHOWN_ROWS = 1000

store = registry().store

# -- the model ---------------------------------------------------------------------------------------------------
runs = [r for r in store.list_runs() if r["status"] in WITH_MODEL and r["checkpoint"]]
choice = st.radio("Model", ["From a run", "Upload a checkpoint"], horizontal=True, key="model_source",
                  index=0 if runs else 1)
trained, model_key = None, None
if choice == "From a run":
    if not runs:
        st.info("No finished runs yet: train one on the Train page, or upload a checkpoint.")
    else:
        ids = [r["id"] for r in runs]
        wanted = st.session_state.get("predict_run")
        by_id = {r["id"]: r for r in runs}
        run_id = st.selectbox("Run", ids, index=ids.index(wanted) if wanted in by_id else 0, key="predict_run_select",
                              format_func=lambda i: f"{by_id[i]['name']} · {status_word(by_id[i]['status'])} · val micro-F1 "
                                                    f"{(by_id[i]['best'] or {}).get('micro_f1', float('nan')):.3f}")
        try:
            trained = model_from_store(by_id[run_id]["checkpoint"])
            model_key = run_id
        except (MultilabelError, OSError) as exc:
            st.error(f"cannot load the checkpoint of run {run_id}: {for_page(str(exc))}")
else:
    upload = st.file_uploader("Checkpoint (.pt saved by multilabel)", type=["pt"], key="ckpt_upload")
    if upload is not None:
        raw = upload.getvalue()
        try:
            trained = load_checkpoint(io.BytesIO(raw), name=f"'{upload.name}'")  # weights_only: code never runs
            model_key = hashlib.sha1(raw).hexdigest()[:12]
        except MultilabelError as exc:
            st.error(for_page(str(exc)))

if trained is None:
    st.stop()

st.caption(f"{len(trained.feature_names)} features → {len(trained.label_names)} labels: "
           + ", ".join(trained.label_names))

# -- thresholds ---------------------------------------------------------------------------------------------------
with st.expander("Per-label thresholds", expanded=False):
    st.caption("A row gets label 1 where its probability is at least the label's threshold. They start at the "
               "model's own (tuned on its validation split).")
    cols = st.columns(min(4, len(trained.label_names)))
    thresholds = [
        cols[j % len(cols)].slider(label, 0.0, 1.0, float(trained.thresholds[j]), 0.01, key=f"thr_{model_key}_{j}")
        for j, label in enumerate(trained.label_names)
    ]

# -- the data -----------------------------------------------------------------------------------------------------
data = st.file_uploader("CSV to score (the model's feature columns; other columns pass through)", type=["csv"],
                        key="predict_csv")
if data is None:
    st.stop()
# Score a file once per model; moving a threshold slider only re-cuts the cached probabilities.
label_cols = list(trained.label_names)
prob_cols = [c + PROB_SUFFIX for c in label_cols]
cache_key = (data.file_id, model_key)
cached = st.session_state.get("predict_cache")
if cached is None or cached[0] != cache_key:
    try:
        scored, plan = predict_frame(trained, read_csv(data, f"'{data.name}'"), name=f"'{data.name}'")
    except MultilabelError as exc:
        st.error(for_page(str(exc)))
        st.stop()
    cached = st.session_state["predict_cache"] = (cache_key, scored, plan)
_, scored, plan = cached
result = pd.concat([scored[plan.passthrough],
                    label_frame(trained, scored[prob_cols].to_numpy(), thresholds, index=scored.index)], axis=1)

for note in plan.notes:
    st.warning(note)
counts = [int(result[c].sum()) for c in label_cols]
st.markdown(f"**{len(result):,} rows scored.** Columns `<label>{PROB_SUFFIX}` hold probabilities; `<label>` "
            "holds 0/1 under the thresholds above.")
shown = result[[*plan.passthrough, *label_cols, *prob_cols]]  # the narrow 0/1 columns first, in view
st.dataframe(shown.head(SHOWN_ROWS), hide_index=True,
               column_config={c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="%.3f")
                              for c in prob_cols})
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
