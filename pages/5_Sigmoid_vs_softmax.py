"""Sigmoid vs softmax: train both heads on the same multi-label data and see why the product uses sigmoids."""

import streamlit as st

from app_pages._nav import page

page("Sigmoid vs softmax")
st.title("Sigmoid vs softmax")  # before the heavy imports: the page paints at once

import pandas as pd  # noqa: E402

from multilabel import MultilabelError  # noqa: E402
from app_pages._shared import error  # noqa: E402
from multilabel.charts import heads_loss_figure, heads_metrics_figure, heads_probability_figure  # noqa: E402
from multilabel.heads import (DEMO_LABELS, DEMO_ROWS, HEAD_TITLES, HeadsComparison, compare_heads,  # noqa: E402
                              demo_data)

MAX_PAGE_ROWS = 5000  # the comparison trains inside this page's script run: this cap keeps it to a few seconds


# Training happens in the script run itself (no background session): both heads together took 5-7 s at the
# default size on the shared 2-core machine. Cached by the inputs, so a rerun (a widget change, a page switch and
# back) does not train again.
@st.cache_data(show_spinner=False, max_entries=16)
def comparison(rows: int, labels: int, seed: int) -> HeadsComparison:
    return compare_heads(demo_data(rows, labels, seed), seed=seed)


st.markdown(
    "This dashboard's network ends in **one logit per label**, each turned into a probability by **its own "
    "sigmoid** and trained with binary cross-entropy: every label is an independent yes/no. A **softmax** over the "
    "labels makes them compete for one unit of probability, so in a row with two true labels at most one can pass "
    "0.5. Trained the usual way (cross-entropy against the multi-hot row scaled to sum to 1), it learns to give two "
    "true labels about 0.5 each, three about 0.33 each, and misses labels wherever they co-occur."
)
st.caption("Both heads get the same data, split, network, initial weights and batches; only the loss and the last "
           "activation differ. Synthetic data: a hidden random network decides the labels; the first labels are "
           "common (50% of rows) and the last rare, so more labels mean more labels per row.")

a, b, c = st.columns(3)
rows = a.slider("Rows", 500, MAX_PAGE_ROWS, DEMO_ROWS, 500, key="heads_rows")
labels = b.slider("Labels", 2, 12, DEMO_LABELS, key="heads_labels",
                  help="with 8 labels a row has 2.2 true labels on average; with 4, about 1.1")
seed = c.number_input("Seed", 0, 2**31 - 1, 0, key="heads_seed", help="same seed, same data and same results")
if st.button("Train both heads", type="primary", key="heads_run"):
    st.session_state["heads_inputs"] = (int(rows), int(labels), int(seed))

inputs = st.session_state.get("heads_inputs")
if inputs is None:
    st.info("Press **Train both heads**: it trains two small networks and compares them; that takes several "
            "seconds (more with more rows).")
    st.stop()
if inputs != (int(rows), int(labels), int(seed)):
    st.caption(f"Showing {inputs[0]:,} rows, {inputs[1]} labels, seed {inputs[2]}: press the button to train on "
               "the new settings.")
try:
    with st.spinner("Training both heads (several seconds)…"):
        result = comparison(*inputs)
except MultilabelError as exc:
    error(exc)
    st.stop()

st.markdown(f"**{result.n_train:,}** training / **{result.n_val:,}** validation rows · "
            f"**{result.label_cardinality:.2f}** true labels per row on average · "
            f"**{result.co_occurrence:.0%}** of validation rows have 2 or more")
sig, soft, topk = result.metrics["sigmoid"], result.metrics["softmax"], result.softmax_topk
cols = st.columns(3)
cols[0].metric("Sigmoid micro-F1", f"{sig['micro_f1']:.3f}")
cols[1].metric("Softmax micro-F1", f"{soft['micro_f1']:.3f}", f"{soft['micro_f1'] - sig['micro_f1']:+.3f}")
cols[2].metric(f"Softmax best top-k micro-F1 (k = {topk['k']})", f"{topk['metrics']['micro_f1']:.3f}",
               f"{topk['metrics']['micro_f1'] - sig['micro_f1']:+.3f}",
               help="each row predicts its k most probable labels; k is the best for these very rows, so this is "
                    "the most a softmax can score with any fixed k")

if result.rows:
    st.plotly_chart(heads_probability_figure(result.label_names, result.targets, result.probs,
                                             [f"row {r}" for r in result.rows]), key="heads_probs_chart")
else:
    st.info("No validation row has 2 or more true labels here: choose more labels to see softmax split its mass.")

left, right = st.columns(2)
with left:
    st.subheader("Validation metrics (threshold 0.5)")
    st.dataframe(pd.DataFrame(result.metrics_table()), hide_index=True, key="heads_table",
                 column_config={k: st.column_config.NumberColumn(format="%.3f")
                                for k in ("micro-F1", "Hamming loss", "subset accuracy")})
    st.caption("Subset accuracy counts rows whose whole label set is right. Hamming loss is the share of wrong "
               "label cells (lower is better). Top-k ignores 0.5 and takes each row's k most probable labels.")
with right:
    st.plotly_chart(heads_metrics_figure(result.metrics_table()), key="heads_metrics_chart")
st.plotly_chart(heads_loss_figure(result.train_loss, result.val_loss), key="heads_loss_chart")
st.caption(f"Left: {HEAD_TITLES['sigmoid']}. Right: {HEAD_TITLES['softmax']}, whose loss cannot reach 0 on a row "
           "with several true labels; their scales differ.")
