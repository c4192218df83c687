"""multilabel dashboard, `streamlit run app.py`. This script is the Home page; pages/ holds the others.

Nothing heavy is imported before the first elements are sent: the title and the text paint at once, and torch
(for the device table) loads after them.
"""

import streamlit as st

from app_pages._nav import PREDICT, RUNS, SEARCH, TRAIN, page

page("Home")
st.title("multilabel")
st.markdown(
    "Train a **multi-label classifier** and watch it learn. Multi-label means several independent yes/no answers "
    "per row (a song can be *happy* and *relaxing* at once): the network ends in one logit per label, each turned "
    "into a probability by its own sigmoid, and is trained with binary cross-entropy per label."
)
st.markdown(
    "1. **Train**: pick synthetic data or upload a CSV, set the network and training knobs, start, and watch the "
    "loss and per-label probabilities live. Training keeps running if you change page or reload; pause, stop, "
    "continue or queue runs.\n"
    "2. **Search**: a background search tries many settings on your data and builds an ensemble for Predict.\n"
    "3. **Predict**: pick a trained model or ensemble (or upload a checkpoint), upload a CSV, tune per-label "
    "thresholds, download the result.\n"
    "4. **Runs**: every run is kept with its settings, metrics and checkpoint; compare and reload them.\n"
    "5. **Inspect**: one run's per-label precision-recall and ROC curves, thresholds, confusion and network.\n"
    "6. **Sigmoid vs softmax**: why the network ends in one sigmoid per label, shown on data."
)
cols = st.columns(4)
# An icon marks each as a link (plain grey text read as a caption); the icon font ships with Streamlit.
cols[0].page_link(TRAIN, label="Train a model", icon=":material/play_arrow:")
cols[1].page_link(SEARCH, label="Search for a good model", icon=":material/manage_search:")
cols[2].page_link(PREDICT, label="Predict on a CSV", icon=":material/upload_file:")
cols[3].page_link(RUNS, label="Browse runs", icon=":material/table_view:")

st.subheader("Devices on this machine")
with st.spinner("looking for devices…"):
    import pandas as pd

    from multilabel import describe_devices  # torch loads here, after the text above is on screen

    devices = pd.DataFrame(describe_devices()).fillna("")
st.table(devices, hide_index=True, width="content")

from streamlit.runtime.scriptrunner import get_script_run_ctx  # noqa: E402

from app_pages._shared import registry  # noqa: E402

# The run store's registry exists from the first page of a (re)started server: a queue left waiting goes on. Only in
# a script run: a worker process started from this page re-imports it as __main__ (multiprocessing), with no context.
if get_script_run_ctx(suppress_warning=True) is not None:
    registry()
