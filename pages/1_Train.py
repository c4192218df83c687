"""Train page: choose data and knobs, start a background run, watch it learn."""

from pathlib import Path

import streamlit as st

from app_pages._nav import INSPECT, PREDICT, page

page("Train")
st.title("Train")
# Everything heavy (torch, plotly, the engine) loads after the title is on screen.
status_slot = st.empty()
status_slot.caption("loading…")

from multilabel import MultilabelError, guess_label_columns, make_synthetic, read_csv  # noqa: E402
from multilabel.charts import (empty_figure, loss_figure, metrics_figure, per_label_figure,  # noqa: E402
                               probability_histogram_figure, probe_heatmap)
from multilabel.cli import train_command  # noqa: E402
from multilabel.config import advice  # noqa: E402
from multilabel.engine import refit_expected_s  # noqa: E402
from multilabel.data import dataset_from_frame  # noqa: E402
from multilabel.tracking import TrackerSpec  # noqa: E402
from app_pages import _form  # noqa: E402
from app_pages._shared import (FIGURES, error, plain, registry, release_upload, show_label_warnings,  # noqa: E402
                                warning)
from app_pages._words import (batch_words, browser_session, for_page, notes_lines, owner_line,  # noqa: E402
                              queue_line, rows_line, status_word)

# The live view polls every POLL_S while one run trains, and less often the more runs train at once: every open tab
# of every run re-renders its charts on each poll, in the server and in the browser. Measured with 4 runs each
# watched by a Chromium tab on 2 cores, polling every 0.7 s kept the server busy enough that /_stcore/health took
# 292 ms (median) and a fresh Home page 23 s (benchmarks/bench_dashboard_load.py).
POLL_S = 0.7
POLL_MAX_S = 3.0
FIRST_POLL_S = 0.2
status_slot.empty()

ME = browser_session()  # runs this tab starts are its own; stopping another session's run asks first

reg = registry()
run_id = st.session_state.get("run_id") or st.query_params.get("run")
reopened = bool(run_id) and not st.session_state.get("run_id")  # a reload or a link: the tab opens on a run
if run_id:
    try:
        stored = reg.store.get_run(run_id)
    except MultilabelError:
        run_id = None  # a stale link (deleted run, another store): start fresh
        st.session_state.pop("run_id", None)
        del st.query_params["run"]
if run_id:
    st.session_state["run_id"] = run_id
    st.query_params["run"] = run_id
    # A tab that opens on a run (a reload, a link, "Open on the Train page") shows that run's settings.
    opened = st.session_state.pop("load_form", None) == run_id  # "Open on the Train page" on Runs
    if opened or _form.FORM not in st.session_state:
        _form.load(stored["config"], stored["data"])
if "form_from_url" not in st.session_state:  # once per session: a reload or a shared link carries the form
    st.session_state["form_from_url"] = True
    for problem in _form.from_url(st.query_params.to_dict()):
        warning(problem)
form = _form.form()
knobs = {k.name: k for k in _form.knobs()}

# -- the form ------------------------------------------------------------------------------------------------------
st.subheader("Data")
# The source and the synthetic knobs share one row, and the training knobs sit three to a row: at 1400x900 the
# Start button is on screen without scrolling.
cols = st.columns([0.8, 1, 1.1, 1.3, 0.9])
source = _form.data_widget("radio", "Source", "source", cols[0], options=_form.SOURCES)
frame, labels, upload_name = None, [], None
if source == "Synthetic":
    _form.data_widget("number", "Samples", "syn_samples", cols[1], min_value=50, max_value=2_000_000, step=500)
    _form.widget(knobs["input_size"], cols[2])
    _form.widget(knobs["num_outputs"], cols[3])
    _form.data_widget("slider", "Label noise", "syn_noise", cols[4], min_value=0.0, max_value=2.0, step=0.05,
                      help="noise added to the hidden teacher's logits before thresholding; 0 = learnable exactly")
else:
    upload = st.file_uploader("CSV with a header row (or Parquet); features numeric, labels 0/1",
                              type=["csv", "parquet"], key="train_csv")
    kept = st.session_state.get("train_upload")
    if upload is not None and (kept is None or kept["id"] != upload.file_id):
        # The table of an earlier upload goes first: Streamlit keeps the previous run's value of a key until a
        # later run, so an overwritten one would stay in memory beside the new one.
        st.session_state.pop("train_upload", None)
        kept = None
        try:
            kept = {"id": upload.file_id, "key": f"{upload.name}:{upload.size}", "name": upload.name,
                    "frame": read_csv(upload, f"'{upload.name}'")}
        except MultilabelError as exc:
            kept = None
            error(exc)
        else:
            release_upload(upload)  # parsed and kept: the file's bytes need not stay in the server's memory
        st.session_state["train_upload"] = kept
    if kept is not None:  # kept across source switches and page changes: the uploader itself forgets its file
        frame, upload_name = kept["frame"], kept["name"]
        earlier = "" if upload is not None else " (uploaded earlier; upload another file to replace it)"
        st.caption(f"{plain(upload_name)}: {len(frame):,} rows × {len(frame.columns)} columns{earlier}")
        st.dataframe(frame.head(5), hide_index=True)
        columns = [str(c) for c in frame.columns]
        labels = _form.label_picker(kept["key"], columns, guess_label_columns(frame))
        if labels:  # e.g. a label column that is 0 in every row
            show_label_warnings(frame, labels, f"'{upload_name}'")
        a, b, _ = st.columns([1, 1, 4])
        a.metric("Input size", len(columns) - len(labels))
        b.metric("Number of outputs", len(labels))

st.subheader("Network and training")
grid = [k for name, k in knobs.items() if name not in _form.DATA_SHAPE]
wide = [k for k in grid if k.ui in ("slider", "select_slider")]
small = [k for k in grid if k not in wide]
cols = st.columns(3, gap="medium")
for i, k in enumerate(wide):
    _form.widget(k, cols[i % 3])
cols = st.columns(4)
for i, k in enumerate(small):
    _form.widget(k, cols[i % 4])
try:
    for line in advice(_form.config_from_form(form["input_size"], form["num_outputs"])):
        warning(line)
except MultilabelError:
    pass  # a value out of range: Start says what is wrong

_form.to_url(st.query_params)  # the URL keeps the form: a reload or a copied link opens the same settings

# -- the data and config the form describes (Start, Add to queue, the command line) -------------------------------
def data_and_config():
    """(Dataset, TrainConfig) for the form as it stands; MultilabelError (one line) when it is not ready."""
    if source == "Synthetic":
        config = _form.config_from_form(form["input_size"], form["num_outputs"])
        data = make_synthetic(int(form["syn_samples"]), config.input_size, config.num_outputs,
                              noise=float(form["syn_noise"]), seed=config.seed)
        return data, config
    if frame is None:
        raise MultilabelError("upload a CSV first, or choose synthetic data")
    if not labels:
        raise MultilabelError("choose at least one label column")
    data = dataset_from_frame(frame, labels, f"'{upload_name}'")
    return data, _form.config_from_form(data.X.shape[1], data.Y.shape[1])


# -- start / stop / pause / queue ---------------------------------------------------------------------------------
live = bool(run_id) and reg.is_live(run_id)
shown = reg.view(run_id) if live else None
held = bool(shown and (shown.paused or shown.pausing))  # Pause reads Resume while the run waits (or is about to)
start_col, queue_col, stop_col, pause_col, step_col, _ = st.columns([1.3, 1.2, 0.8, 1, 1, 1.7])
start = start_col.button("Start training", type="primary", key="start", disabled=live)
enqueue = queue_col.button("Add to queue", key="enqueue",
                           help="start this run when every run before it has ended (also with no page open)")
ACTIONS = {"stop": reg.stop, "pause": reg.pause, "resume": reg.resume, "step": reg.step}


def control(action: str) -> None:
    """Stop / pause / resume / one epoch on this tab's run: at once for its own run, after a question otherwise.

    A button callback: it runs before the page is drawn again, so the buttons and the status show the new state
    ('pausing after epoch N…', 'stopping…') from the store at once; the live view then follows the worker. It does
    not wait for the worker: a wait of up to 0.5 s here held every click's answer back by as much.
    """
    if reg.view(run_id).started_by != ME:
        st.session_state["confirm_control"] = (run_id, action)
        return
    ACTIONS[action](run_id, by=ME)


stop_col.button("Stop", key="stop", disabled=not live, on_click=control, args=("stop",))
if held:
    pause_col.button("Resume", key="resume", disabled=not live, help="go on training", on_click=control,
                     args=("resume",))
else:
    pause_col.button("Pause", key="pause", disabled=not live, on_click=control, args=("pause",),
                     help="wait after the current epoch, optimizer state kept; Resume goes on exactly")
step_col.button("One epoch", key="step", disabled=not live, on_click=control, args=("step",),
                help="train one more epoch, then wait (on a running run: finish this epoch, then wait)")
# Below the buttons, folded: at 1400x900 the Start button stays on screen without scrolling.
with st.expander("Also log to TensorBoard", expanded=bool(st.session_state.get("tensorboard_dir"))):
    tensorboard_dir = st.text_input(
        "Folder (empty: off)", key="tensorboard_dir", placeholder="e.g. tb-logs",
        help="the run writes per-epoch losses and F1, per-label PR curves and its settings with the best metrics to "
             "FOLDER/<run id>; view them with: tensorboard --logdir FOLDER (needs: pip install tensorboard). For runs "
             "started with Start training (not for runs added to the queue)").strip()
confirm = st.session_state.get("confirm_control")
if live and confirm and confirm[0] == run_id:
    view = reg.view(run_id)
    verb = {"stop": "Stop it", "pause": "Pause it", "resume": "Resume it", "step": "Run one epoch of it"}[confirm[1]]
    past = {"stop": "stopped", "pause": "paused", "resume": "resumed", "step": "stepped"}[confirm[1]]
    st.warning(f"This run was {plain(owner_line(view, ME))}. {verb} anyway? A note on the run will say that "
               f"another browser session {past} it.")
    yes, no, _ = st.columns([1, 1, 4])
    # Stop keeps its own keys (stop_yes / stop_no) so that scripts and tests driving it keep working.
    prefix = "stop" if confirm[1] == "stop" else "control"
    if yes.button(f"Yes, {verb[0].lower()}{verb[1:]}", key=f"{prefix}_yes", type="primary"):
        ACTIONS[confirm[1]](run_id, by=ME)
        st.session_state.pop("confirm_control")
        st.rerun()
    if no.button("Cancel", key=f"{prefix}_no"):
        st.session_state.pop("confirm_control")
        st.rerun()

if enqueue:
    try:
        data, config = data_and_config()
        item = reg.enqueue(config, data, started_by=ME)
    except MultilabelError as exc:
        error(exc)
    else:
        ids = [q["id"] for q in reg.queued()]
        st.toast(f"Added to the queue at position {ids.index(item) + 1}" if item in ids
                 else "Added to the queue: starting now")


queued_now = reg.queued()


@st.fragment(run_every=1.0 if queued_now else None)
def queue_view() -> None:
    """The queue: waiting runs with their position (removable), and the runs it started for this tab (Open)."""
    waiting = reg.queued()
    if bool(waiting) != bool(queued_now):
        st.rerun()  # the queue emptied or filled since the page ran: redraw it all (the poll's cadence, the run)
    started = [q for q in reg.store.queue(("started", "failed")) if q["started_by"] == ME][-3:]
    if not waiting and not started:
        return
    with st.container(key="queue_panel", border=True):
        st.markdown(f"**Queue** · {len(waiting)} waiting" + (" · the first starts when no run is training"
                                                              if waiting else ""))
        for position, item in enumerate(waiting, 1):
            text_col, button_col = st.columns([6, 1])
            text_col.markdown(queue_line(position, item, ME))
            if item["state"] == "waiting" and button_col.button("Remove", key=f"unqueue_{item['id']}"):
                reg.unqueue(item["id"])
                st.rerun()
        for item in reversed(started):
            text_col, button_col = st.columns([6, 1])
            if item["run_id"]:
                text_col.caption(f"Started from the queue: run `{item['run_id']}`")
                if item["run_id"] != run_id and button_col.button("Open", key=f"open_queued_{item['id']}"):
                    st.session_state["run_id"] = item["run_id"]
                    st.session_state["load_form"] = item["run_id"]
                    st.query_params["run"] = item["run_id"]
                    st.rerun()
            else:
                text_col.caption(f"Could not start from the queue: {plain(for_page(item['error'] or ''))}")


queue_view()

with st.expander("Command line: the same run without the dashboard"):
    try:
        if source == "Synthetic":
            cli_config = _form.config_from_form(form["input_size"], form["num_outputs"])
            described = {"source": "synthetic", "rows": int(form["syn_samples"]), "noise": float(form["syn_noise"])}
        else:
            n_features = len(frame.columns) - len(labels) if frame is not None else form["input_size"]
            cli_config = _form.config_from_form(max(1, n_features), max(1, len(labels) or form["num_outputs"]))
            described = {"source": "csv", "name": upload_name or "YOUR_FILE.csv",
                         "labels": labels or ["LABEL_COLUMNS"]}
        st.code(train_command(cli_config, described, store=reg.store.home), language="bash", wrap_lines=True)
        if source != "Synthetic":
            st.caption(f"Replace `{plain(upload_name or 'YOUR_FILE.csv')}` with the path of that file on the "
                       "machine that runs the command: the dashboard does not keep a path for uploaded files.")
        st.caption("It trains in the terminal with a progress bar; with this `--store` the run also shows here, "
                   "on Runs, and can be stopped from the dashboard.")
    except MultilabelError as exc:
        error(exc)

def scroll_to(selector: str) -> None:
    """Scroll the page so the element matching ``selector`` is at the top of the window (a zero-height iframe)."""
    st.html(f"""<script>
      (function () {{
        const doc = window.parent.document;
        let tries = 0;
        const go = () => {{
          const el = doc.querySelector({selector!r});
          if (el) {{ el.scrollIntoView({{block: "start"}}); }} else if (tries++ < 40) {{ setTimeout(go, 50); }}
        }};
        go();
      }})();
    </script>""", unsafe_allow_javascript=True)


panel = st.container(key="run_panel")  # the run's status and charts, right under Start
if start:
    # On screen at once, before the data is built and the run starts (which can take seconds on a busy machine).
    with panel:
        starting = st.empty()
    with starting.container():
        st.markdown("**Run** starting · status: **starting** · preparing data…")
        st.progress(0.0, text="preparing data…")
        a, b = st.columns(2)
        a.plotly_chart(empty_figure("Loss (binary cross-entropy per label)", "waiting for the first epoch…"),
                       key="loss_chart")
        b.plotly_chart(empty_figure("Validation metrics (threshold 0.5)", "waiting for the first epoch…"),
                       key="metrics_chart")
    scroll_to(".st-key-run_panel")
    try:
        data, config = data_and_config()
        # A relative folder is the server's working directory's, where 'tensorboard --logdir' would be started.
        spec = TrackerSpec(tensorboard=str(Path(tensorboard_dir).expanduser().resolve())) if tensorboard_dir else None
        session = reg.start(config, data, started_by=ME, trackers=spec)
    except MultilabelError as exc:
        starting.empty()
        error(exc, panel)
    else:
        st.session_state["run_id"] = session.run_id
        st.session_state["scroll_to_run"] = True
        st.query_params["run"] = session.run_id
        st.rerun()  # draw the page again as 'live': Stop enabled, Start disabled, the view polling


# -- the run -------------------------------------------------------------------------------------------------------
def continue_form(view) -> None:
    """'Continue training': more epochs of a finished or stopped run, in a new run linked to it."""
    described = reg.store.get_run(view.run_id)["data"] or {}
    more_col, button_col, note_col = st.columns([1, 1, 3], vertical_alignment="bottom")
    more = more_col.number_input("More epochs", min_value=1, max_value=100_000, step=10, key="more_epochs",
                                 value=int(view.config.get("epochs", 10)))
    note_col.caption("Continues from the last epoch's weights and optimizer state in a new run that carries this "
                     "run's epochs; this run stays as it is. Same numbers as one run of the total length.")
    if not button_col.button("Continue training", key="continue"):
        return
    try:
        data = None
        if described.get("source") == "csv":
            kept = st.session_state.get("train_upload")
            if kept is None:
                raise MultilabelError(f"upload '{described.get('name', 'the CSV')}' again (Source: Upload CSV) to "
                                      "continue this run: the dashboard does not keep uploaded files")
            data = dataset_from_frame(kept["frame"], described.get("labels", []), f"'{kept['name']}'")
        session = reg.continue_run(view.run_id, int(more), data, started_by=ME)
    except MultilabelError as exc:
        error(exc)
        return
    st.session_state["run_id"] = session.run_id
    st.session_state["load_form"] = session.run_id
    st.query_params["run"] = session.run_id
    st.rerun()


def render(view) -> None:
    """One run's status, curves and per-label view (a live snapshot or a stored run)."""
    history, epochs, cfg, info = view.history, view.epochs, view.config, view.info
    if view.stopping:
        state = f"**{status_word(view.status)}** (stopping…)"
    elif view.paused:
        state = f"**paused** at epoch {view.epoch}"
    elif view.pausing:
        state = f"**{status_word(view.status)}** (pausing after epoch {view.epoch + 1}…)"
    elif view.stepping:
        state = f"**{status_word(view.status)}** (one more epoch, then paused…)"
    else:
        state = f"**{status_word(view.status)}**"
    st.markdown(f"**Run** `{view.run_id}` · status: {state} · {plain(owner_line(view, ME))}")
    if view.continued_from:
        st.caption(f"Continued from run `{view.continued_from}`: its first epochs are that run's, carried over.")
    for line in notes_lines(view.notes):
        st.caption(plain(line))
    st.caption(f"{rows_line(info, view.alive)} · {cfg['input_size']} → {cfg['hidden_size']} → "
               f"{cfg['num_outputs']} · lr {cfg['learning_rate']:g} · {batch_words(cfg, info)} · "
               f"device {info.get('device', cfg['device'])}")
    last = history[-1] if history else None
    if last:
        elapsed = sum(r["duration_s"] for r in history)
        eta = elapsed / last["epoch"] * (epochs - last["epoch"]) if view.alive else 0.0
        # Refit "all": after the epochs, a second training on every row for the best epoch count (so far).
        then_refit = ""
        if view.alive and cfg.get("refit") == "all" and not info.get("refitting") and info.get("n_train"):
            refit_s = refit_expected_s(history, info["n_train"] + info.get("n_val", 0), max(last["best_epoch"], 1))
            then_refit = f" + refit on all rows ≈ {refit_s:.0f} s" if refit_s is not None else ""
        # A paused run has no speed and no ETA: it waits for a person, not for the CPU.
        pace = ("paused" if view.paused else f"{last['samples_per_s']:,.0f} samples/s · ETA {eta:.0f} s{then_refit}"
                if view.alive else f"{last['samples_per_s']:,.0f} samples/s")
        st.progress(min(last["epoch"] / epochs, 1.0),
                    text=f"epoch {last['epoch']}/{epochs} · {pace} · train loss {last['train_loss']:.4f} · "
                         f"val loss {last['val_loss']:.4f}")
    if last and view.alive and info.get("refitting"):
        refit = info["refitting"]
        expected = (f", expected to take about {refit['expected_s']:.0f} s"
                    if refit.get("expected_s") is not None else "")
        st.caption(f"Training done; refitting on all {refit['rows']:,} rows for {refit['epochs']} epochs (the best "
                   f"epoch count{expected}) before saving the model…")
    elif not last and view.alive:
        progress = view.progress or {}
        done = progress.get("step", 0) / progress["steps"] if progress.get("steps") else 0.0
        st.progress(done, text="first epoch…" if info else "preparing data…")
    if view.error:
        error(view.error)
    best = view.best
    if best:
        cols = st.columns(5)
        cols[0].metric("Best epoch", best["epoch"])
        cols[1].metric("Val micro-F1", f"{best['micro_f1']:.3f}")
        cols[2].metric("Val macro-F1", f"{best['macro_f1']:.3f}")
        cols[3].metric("Val Hamming loss", f"{best['hamming_loss']:.3f}")
        cols[4].metric("Val subset accuracy", f"{best['subset_accuracy']:.3f}", help="exact match of all labels")
        if "thresholds" not in best:  # an interrupted run: its best measured epoch, as logged
            st.caption("The run did not finish: these are its logged epoch of lowest validation loss (threshold "
                       "0.5); its checkpoint holds the best weights saved before it ended.")
        else:
            st.caption("Final metrics use the best epoch's weights and the per-label thresholds "
                       + ", ".join(f"{t:.2f}" for t in best["thresholds"]) + "."
                       + (f" The saved model was then refit on all {info['refit']['rows']:,} rows for "
                          f"{info['refit']['epochs']} epochs (Refit on all rows): the validation rows are part of "
                          "its training data, so these metrics are the run's estimate for it."
                          if info.get("refit") and not view.alive else ""))
        if view.checkpoint and st.button("Predict with this model", key="to_predict"):
            st.session_state["predict_run"] = view.run_id
            st.switch_page(PREDICT)
        if not view.alive and "resumable" in info and view.status in ("completed", "early_stopped", "stopped"):
            continue_form(view)
    if not last:
        if view.alive:  # the chart frame is on screen from the start; points come with the first epoch
            a, b = st.columns(2)
            a.plotly_chart(empty_figure("Loss (binary cross-entropy per label)", "waiting for the first epoch…"),
                           key="loss_chart")
            b.plotly_chart(empty_figure("Validation metrics (threshold 0.5)", "waiting for the first epoch…"),
                           key="metrics_chart")
        return
    # Figures by what they show: a poll that finds no new epoch, and other viewers of this run, reuse them.
    shown = (view.run_id, len(history), last["epoch"])
    a, b = st.columns(2)
    a.plotly_chart(FIGURES.get((*shown, "loss", last["best_epoch"]), lambda: loss_figure(history, last["best_epoch"])),
                   key="loss_chart")
    b.plotly_chart(FIGURES.get((*shown, "metrics"), lambda: metrics_figure(history)), key="metrics_chart")
    evaluated = view.last_evaluated
    if evaluated is None:
        return
    label_names = info.get("label_names") or list(evaluated["val_per_label"])
    shown_epoch = evaluated["epoch"]
    live_part = view.live or {}
    st.page_link(INSPECT, label="Inspect: per-label PR/ROC curves, confusion and the network, live",
                 query_params={"run": view.run_id})
    # The probe heatmap is tall (a row per probe row): the bars and the histograms share the column beside it,
    # so neither column stands half empty.
    probe = bool(live_part.get("probe_probs") and info.get("probe_targets"))
    a, b = st.columns(2) if probe else (st.container(), None)
    a.plotly_chart(FIGURES.get((*shown, "per_label", shown_epoch),
                               lambda: per_label_figure(evaluated["val_per_label"], epoch=shown_epoch)),
                   key="per_label_chart")
    if live_part.get("prob_hist"):
        a.plotly_chart(FIGURES.get((*shown, "hist", shown_epoch, probe),
                                   lambda: probability_histogram_figure(live_part["prob_hist"], label_names,
                                                                        epoch=shown_epoch, cols=2 if probe else 3)),
                       key="hist_chart")
    if probe:
        b.plotly_chart(FIGURES.get((*shown, "probe", shown_epoch),
                                   lambda: probe_heatmap(live_part["probe_probs"], info["probe_targets"], label_names,
                                                         epoch=shown_epoch)), key="probe_chart")


if run_id:
    was_live = live

    poll_s = min(POLL_MAX_S, POLL_S * max(1, len(reg.store.live_run_ids()))) if live else None
    # Until a just-started run reports its first epoch, look often, so the first point shows as soon as it exists.
    waiting = live and not reg.view(run_id).history
    if waiting:
        poll_s = FIRST_POLL_S

    @st.fragment(run_every=poll_s)
    def live_view() -> None:
        view = reg.view(run_id)
        if ((was_live and not view.alive) or (waiting and view.history)
                or (was_live and (view.paused or view.pausing) != held)):
            st.rerun()  # the run ended, or its first epoch came: refresh the whole page once (buttons, cadence)
        render(view)

    with panel:
        live_view()
    # Start is at the bottom of the form: bring the run's status into view after Start, and when a reload (or a
    # link) opens the page on a run that is training.
    if st.session_state.pop("scroll_to_run", False) or (reopened and live):
        scroll_to(".st-key-run_panel")
else:
    with panel:
        st.info("Set the data and knobs, then press **Start training**. The run keeps going if you leave this page.")
        # The empty frames show where the curves will come, and load the chart code before Start is pressed.
        a, b = st.columns(2)
        a.plotly_chart(empty_figure("Loss (binary cross-entropy per label)", "no run yet"), key="loss_frame")
        b.plotly_chart(empty_figure("Validation metrics (threshold 0.5)", "no run yet"), key="metrics_frame")
