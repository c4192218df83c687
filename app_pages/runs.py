"""Runs page: every stored run, overlay curves, download a checkpoint, delete a run."""

from pathlib import Path

import pandas as pd
import streamlit as st

from multilabel.charts import runs_overlay_figure
from app_pages._shared import registry

reg = registry()
store = reg.store
st.title("Runs")
runs = store.list_runs()
if not runs:
    st.info("No runs yet: start one on the Train page (or with `python -m multilabel train`).")
    st.stop()


def row(run: dict) -> dict:
    config, best, data = run["config"], run["best"] or {}, run["data"] or {}
    return {
        "run": run["id"], "status": run["status"],
        "data": data.get("name") or data.get("source", ""), "rows": data.get("rows"),
        "hidden": config.get("hidden_size"), "lr": config.get("learning_rate"), "batch": config.get("batch_size"),
        "epochs": f"{run['epochs_done']}/{config.get('epochs')}",
        "val micro-F1": best.get("micro_f1"), "val macro-F1": best.get("macro_f1"),
        "val Hamming": best.get("hamming_loss"),
        "duration (s)": round(run["duration_s"], 1) if run["duration_s"] is not None else None,
        "started": pd.Timestamp(run["created_at"], unit="s").strftime("%Y-%m-%d %H:%M:%S"),
    }


st.dataframe(pd.DataFrame([row(r) for r in runs]), hide_index=True,
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("val micro-F1", "val macro-F1", "val Hamming")})

ids = [r["id"] for r in runs]
chosen = st.multiselect("Compare runs", ids, default=ids[: min(3, len(ids))], key="compare")
if chosen:
    histories = {i: store.history(i) for i in chosen}
    a, b = st.columns(2)
    a.plotly_chart(runs_overlay_figure(histories, "val_loss", "Validation loss", "loss"), key="overlay_loss")
    b.plotly_chart(runs_overlay_figure(histories, "val_micro_f1", "Validation micro-F1 (threshold 0.5)", "micro-F1"),
                   key="overlay_f1")

st.subheader("One run")
run_id = st.selectbox("Run", ids, key="detail_run")
run = next(r for r in runs if r["id"] == run_id)
if run["error"]:
    st.error(f"This run {run['status']}: {run['error']}")
a, b, c = st.columns(3)
if a.button("Open on the Train page", key="open_train"):
    st.session_state["run_id"] = run_id
    st.switch_page("app_pages/train.py")
checkpoint = Path(run["checkpoint"]) if run["checkpoint"] else None
if checkpoint is not None and checkpoint.is_file():
    b.download_button("Download checkpoint", checkpoint.read_bytes(), file_name=f"{run_id}.pt", key="download_ckpt")
    if a.button("Predict with this model", key="open_predict"):
        st.session_state["predict_run"] = run_id
        st.switch_page("app_pages/predict.py")
live = reg.get(run_id) is not None and reg.get(run_id).running
if live:
    c.caption("Running: stop it on the Train page before deleting it.")
elif st.session_state.get("confirm_delete") == run_id:
    c.warning(f"Delete run {run_id} and its checkpoint? This cannot be undone.")
    if c.button("Yes, delete", type="primary", key="delete_yes"):
        store.delete_run(run_id)
        st.session_state.pop("confirm_delete")
        st.rerun()
    if c.button("Cancel", key="delete_no"):
        st.session_state.pop("confirm_delete")
        st.rerun()
elif c.button("Delete run", key="delete"):
    st.session_state["confirm_delete"] = run_id
    st.rerun()
