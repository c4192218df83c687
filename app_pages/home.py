import pandas as pd
import streamlit as st

from multilabel import describe_devices

st.title("multilabel")
st.markdown(
    "Train a **multi-label classifier** and watch it learn. Multi-label means several independent yes/no answers "
    "per row (a song can be *happy* and *relaxing* at once): the network ends in one logit per label, each turned "
    "into a probability by its own sigmoid, and is trained with binary cross-entropy per label."
)
st.markdown(
    "1. **Train**: pick synthetic data or upload a CSV, set the network and training knobs, start, and watch the "
    "loss and per-label probabilities live. Training keeps running if you change page or reload.\n"
    "2. **Predict**: pick a trained model (or upload a checkpoint), upload a CSV, tune per-label thresholds, "
    "download the result.\n"
    "3. **Runs**: every run is kept with its settings, metrics and checkpoint; compare and reload them."
)
cols = st.columns(3)
cols[0].page_link("app_pages/train.py", label="Train a model", icon=":material/model_training:")
cols[1].page_link("app_pages/predict.py", label="Predict on a CSV", icon=":material/online_prediction:")
cols[2].page_link("app_pages/runs.py", label="Browse runs", icon=":material/history:")

st.subheader("Devices on this machine")
st.dataframe(pd.DataFrame(describe_devices()).fillna(""), hide_index=True)
