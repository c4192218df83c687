"""Train page: choose data and knobs, start a background run, watch it learn."""

import streamlit as st

from multilabel import (MultilabelError, TrainConfig, available_devices, guess_label_columns, make_synthetic,
                        read_csv)
from multilabel.charts import (loss_figure, metrics_figure, per_label_figure, probability_histogram_figure,
                               probe_heatmap)
from multilabel.config import knobs
from multilabel.engine import last_evaluated
from multilabel.data import dataset_from_frame
from multilabel.session import RunView
from app_pages._shared import registry

POLL_S = 0.7
DEFAULTS = TrainConfig()
HELP = {f.name: f.metadata["help"] for f in knobs()}
LEARNING_RATES = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]
BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]

reg = registry()
run_id = st.session_state.get("run_id") or st.query_params.get("run")
if run_id:
    try:
        reg.store.get_run(run_id)
    except MultilabelError:
        run_id = None  # a stale link (deleted run, another store): start fresh
        st.session_state.pop("run_id", None)
        del st.query_params["run"]
if run_id:
    st.session_state["run_id"] = run_id
    st.query_params["run"] = run_id
session = reg.get(run_id)

# Widget values start from TrainConfig's defaults; a tab that opens on an existing run (a reload, a link) starts
# from that run's settings instead, so the form shows what the run on screen was trained with.
LIMITS = {"input_size": range(1, 257), "num_outputs": range(1, 33), "hidden_size": range(1, 1025),
          "epochs": range(1, 2001), "learning_rate": LEARNING_RATES, "batch_size": BATCH_SIZES,
          "patience": range(0, 201), "device": ["auto", *available_devices()]}
initial = {name: getattr(DEFAULTS, name) for name in (*LIMITS, "val_fraction", "seed")}
initial.update(pos_weight=DEFAULTS.pos_weight == "auto", tuned=DEFAULTS.threshold_mode == "tuned")
if run_id and "epochs" not in st.session_state:
    config = reg.store.get_run(run_id)["config"]
    initial.update({k: config[k] for k in initial if k in config and (k not in LIMITS or config[k] in LIMITS[k])})
    initial.update(pos_weight=config.get("pos_weight") == "auto", tuned=config.get("threshold_mode") == "tuned")
    initial["source"] = "Upload CSV" if (reg.store.get_run(run_id)["data"] or {}).get("source") == "csv" else "Synthetic"
    initial["val_fraction"] = min(max(round(initial["val_fraction"] * 20) / 20, 0.05), 0.5)
for key, value in initial.items():
    st.session_state.setdefault(key, value)

st.title("Train")
left, right = st.columns(2, gap="large")

with left:
    st.subheader("Data")
    source = st.radio("Source", ["Synthetic", "Upload CSV"], horizontal=True, key="source")
    frame, labels = None, []
    if source == "Synthetic":
        n_samples = st.number_input("Samples", min_value=50, max_value=2_000_000, value=2000, step=500,
                                    key="syn_samples")
        input_size = st.slider("Input size (features)", 1, 256, key="input_size",
                               help=HELP["input_size"])
        num_outputs = st.slider("Number of outputs (labels)", 1, 32, key="num_outputs",
                                help=HELP["num_outputs"])
        noise = st.slider("Label noise", 0.0, 2.0, 0.1, 0.05, key="syn_noise",
                          help="noise added to the hidden teacher's logits before thresholding; 0 = learnable exactly")
    else:
        upload = st.file_uploader("CSV with a header row; features numeric, labels 0/1", type=["csv"], key="train_csv")
        if upload is not None:
            try:
                frame = read_csv(upload, f"'{upload.name}'")
            except MultilabelError as exc:
                st.error(str(exc))
        if frame is not None:
            st.caption(f"{upload.name}: {len(frame):,} rows × {len(frame.columns)} columns")
            st.dataframe(frame.head(5), hide_index=True)
            columns = [str(c) for c in frame.columns]
            labels = st.multiselect("Label columns", columns, default=guess_label_columns(frame),
                                    key=f"labels_{upload.file_id}",
                                    help="each chosen column is one yes/no label; all other columns are features")
            a, b = st.columns(2)
            a.metric("Input size", len(columns) - len(labels))
            b.metric("Number of outputs", len(labels))

with right:
    st.subheader("Network and training")
    hidden_size = st.slider("Hidden size", 1, 1024, key="hidden_size", help=HELP["hidden_size"])
    epochs = st.slider("Epochs", 1, 2000, key="epochs", help=HELP["epochs"])
    learning_rate = st.select_slider("Learning rate", LEARNING_RATES,
                                     format_func=lambda v: f"{v:g}", key="learning_rate", help=HELP["learning_rate"])
    batch_size = st.select_slider("Batch size", BATCH_SIZES, key="batch_size",
                                  help=HELP["batch_size"])
    a, b = st.columns(2)
    val_fraction = a.slider("Validation fraction", 0.05, 0.5, step=0.05, key="val_fraction",
                            help=HELP["val_fraction"])
    patience = b.slider("Early-stopping patience", 0, 200, key="patience", help=HELP["patience"])
    seed = a.number_input("Seed", 0, 2**31 - 1, key="seed", help=HELP["seed"])
    device = b.selectbox("Device", LIMITS["device"], key="device", help=HELP["device"])
    pos_weight = a.toggle("Weight rare positives", key="pos_weight", help=HELP["pos_weight"])
    tuned = b.toggle("Tune thresholds per label", key="tuned", help=HELP["threshold_mode"])

live = reg.is_live(run_id)
start_col, stop_col, _ = st.columns([1, 1, 4])
start = start_col.button("Start training", type="primary", key="start", disabled=live)
if stop_col.button("Stop", key="stop", disabled=not live):
    reg.stop(run_id)

if start:
    try:
        if source == "Synthetic":
            data = make_synthetic(int(n_samples), input_size, num_outputs, noise=noise, seed=int(seed))
        elif frame is None:
            raise MultilabelError("upload a CSV first, or choose synthetic data")
        else:
            data = dataset_from_frame(frame, labels, f"'{upload.name}'")
        config = TrainConfig(
            input_size=data.X.shape[1], hidden_size=hidden_size, num_outputs=data.Y.shape[1], epochs=epochs,
            learning_rate=learning_rate, batch_size=batch_size, device=device, seed=int(seed),
            val_fraction=val_fraction, patience=patience, pos_weight="auto" if pos_weight else "none",
            threshold_mode="tuned" if tuned else "fixed").validate()
        session = reg.start(config, data)
    except MultilabelError as exc:
        st.error(str(exc))
    else:
        st.session_state["run_id"] = session.run_id
        st.query_params["run"] = session.run_id
        st.rerun()  # draw the page again as 'live': Stop enabled, Start disabled, the view polling


def render(view: RunView) -> None:
    """One run's progress, curves and per-label view (a live snapshot or a stored run)."""
    status, history, epochs = view.status, view.history, view.epochs
    st.markdown(f"**Run** `{view.run_id}` · status: **{status}**" + (" (stopping…)" if view.stopping else ""))
    cfg, info = view.config, view.info
    st.caption(f"{info.get('n_train', '?')} training / {info.get('n_val', '?')} validation rows · "
               f"{cfg['input_size']} → {cfg['hidden_size']} → {cfg['num_outputs']} · lr {cfg['learning_rate']:g} · "
               f"batch {cfg['batch_size']} · device {info.get('device', cfg['device'])}")
    last = history[-1] if history else None
    if last:
        elapsed = sum(r["duration_s"] for r in history)
        eta = elapsed / last["epoch"] * (epochs - last["epoch"]) if view.alive else 0.0
        st.progress(min(last["epoch"] / epochs, 1.0),
                    text=f"epoch {last['epoch']}/{epochs} · {last['samples_per_s']:,.0f} samples/s · "
                         f"ETA {eta:.0f} s · train loss {last['train_loss']:.4f} · val loss {last['val_loss']:.4f}")
    elif view.alive:
        st.progress(0.0, text="starting…")
    if view.error:
        st.error(view.error)
    best = view.best
    if best:
        cols = st.columns(5)
        cols[0].metric("Best epoch", best["epoch"])
        cols[1].metric("Val micro-F1", f"{best['micro_f1']:.3f}")
        cols[2].metric("Val macro-F1", f"{best['macro_f1']:.3f}")
        cols[3].metric("Val Hamming loss", f"{best['hamming_loss']:.3f}")
        cols[4].metric("Val subset accuracy", f"{best['subset_accuracy']:.3f}", help="exact match of all labels")
        st.caption("Final metrics use the best epoch's weights and the per-label thresholds "
                   + ", ".join(f"{t:.2f}" for t in best["thresholds"]) + ".")
        if view.checkpoint and st.button("Predict with this model", key="to_predict"):
            st.session_state["predict_run"] = view.run_id
            st.switch_page("app_pages/predict.py")
    if not last:
        return
    a, b = st.columns(2)
    a.plotly_chart(loss_figure(history, last["best_epoch"]), key="loss_chart")
    b.plotly_chart(metrics_figure(history), key="metrics_chart")
    evaluated = last_evaluated(history)
    label_names = view.info.get("label_names") or list(evaluated["val_per_label"])
    live_part = view.live
    a, b = st.columns(2)
    a.plotly_chart(per_label_figure(evaluated["val_per_label"], f"Per-label validation metrics (epoch "
                                    f"{evaluated['epoch']})"), key="per_label_chart")
    if live_part.get("probe_probs") and view.info.get("probe_targets"):
        b.plotly_chart(probe_heatmap(live_part["probe_probs"], view.info["probe_targets"], label_names),
                       key="probe_chart")
    if live_part.get("prob_hist"):
        st.plotly_chart(probability_histogram_figure(live_part["prob_hist"], label_names), key="hist_chart")


if run_id:
    was_live = live

    @st.fragment(run_every=POLL_S if live else None)
    def live_view() -> None:
        view = reg.view(run_id)
        if was_live and not view.alive:
            st.rerun()  # the run just ended: refresh the whole page once (buttons, summary)
        render(view)

    live_view()
else:
    st.info("Set the data and knobs, then press **Start training**. The run keeps going if you leave this page.")
