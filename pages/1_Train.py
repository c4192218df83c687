"""Train page: choose data and knobs, start a background run, watch it learn."""

from pathlib import Path

import streamlit as st

from app_pages._nav import arrived, charts_due, page, rerun_when_drawn, while_shown

page("Train")
st.title("Train")
# Everything heavy (torch, plotly, the engine) loads after the title is on screen.
status_slot = st.empty()
status_slot.caption("loading…")

from multilabel import MultilabelError  # noqa: E402
from multilabel.jobs import train_command  # noqa: E402
from multilabel.config import advice  # noqa: E402
from multilabel.tracking import TrackerSpec  # noqa: E402
from multilabel.trainview import (NOISE_HELP, NOISE_RANGE, NOISE_STEP, SAMPLES_HELP, SAMPLES_RANGE, DataChoice,  # noqa: E402
                                  labels_poll_s, page_outdated, poll_s, queue_position)
from app_pages import _form, _upload  # noqa: E402
from app_pages._keys import LOAD_FORM, RUN_ID, TRAIN_UPLOAD  # noqa: E402
from app_pages._shared import error, plain, registry, warning  # noqa: E402
from app_pages._train_run import (charts_drawn, confirm_control, control_buttons, empty_charts,  # noqa: E402
                                  queue_panel, render, render_labels, scroll_to, training_now)
from app_pages._words import browser_session  # noqa: E402

# The live view polls every POLL_S while one run trains, and less often the more runs train at once: every open tab
# of every run re-renders its charts on each poll, in the server and in the browser (bench_dashboard_load.py).
POLL_S = 0.7
POLL_MAX_S = 3.0
FIRST_POLL_S = 0.2
status_slot.empty()

ME = browser_session()  # runs this tab starts are its own; stopping another session's run asks first

reg = registry()
# An arrival draws the form and Start first, and the parts that load big scripts in the browser (plotly for the chart
# frames, the code highlighter for the command line) once the browser has drawn Start: sent together, the browser
# showed none of the page until those scripts had loaded (3-5 s on a 2-core machine).
FRAMES_DRAWN = "train_frames_drawn"
frames = charts_due(FRAMES_DRAWN)
st.session_state[FRAMES_DRAWN] = True
run_id = st.session_state.get(RUN_ID) or st.query_params.get("run")
reopened = bool(run_id) and not st.session_state.get(RUN_ID)  # a reload or a link: the tab opens on a run
STALE_RUN = "train_stale_run"  # what a link to a run this store lacks said; kept through the arrival's second run
if arrived():
    st.session_state.pop(STALE_RUN, None)
if run_id:
    try:
        stored = reg.store.get_run(run_id)
    except MultilabelError:
        # A stale link (deleted run, another store): said, dropped from the URL, and the page starts fresh
        st.session_state[STALE_RUN] = (f"No run named {run_id} in this run store; set the data and knobs below to "
                                       "start a new one.")
        run_id = None
        st.session_state.pop(RUN_ID, None)
        del st.query_params["run"]
if run_id:
    st.session_state[RUN_ID] = run_id
    st.query_params["run"] = run_id
    # A tab that opens on a run (a reload, a link, "Open on the Train page") shows that run's settings.
    opened = st.session_state.pop(LOAD_FORM, None) == run_id  # "Open on the Train page" on Runs
    if opened or _form.FORM not in st.session_state:
        _form.load(stored["config"], stored["data"])
if "form_from_url" not in st.session_state:  # once per session: a reload or a shared link carries the form
    st.session_state["form_from_url"] = True
    st.session_state["url_problems"] = _form.from_url(st.query_params.to_dict())
elif arrived():  # said while the page is on screen: the arrival's next run (the browser's, for the charts) kept
    st.session_state.pop("url_problems", None)  # them, a later visit does not
for problem in [*st.session_state.get("url_problems", []), *filter(None, [st.session_state.get(STALE_RUN)])]:
    warning(problem)
form = _form.form()
knobs = {k.name: k for k in _form.knobs()}

# -- the form ------------------------------------------------------------------------------------------------------
st.subheader("Data")
# The source and the synthetic knobs share one row, and the training knobs sit three to a row: at 1400x900 the
# Start button is on screen without scrolling.
cols = st.columns([0.8, 1, 1.1, 1.3, 0.9])
source = _form.data_widget("radio", "Source", "source", cols[0], options=_form.SOURCES)
if source == "Synthetic":
    _form.data_widget("number", "Samples", "syn_samples", cols[1], min_value=SAMPLES_RANGE[0],
                      max_value=SAMPLES_RANGE[1], step=500,
                      help=f"{SAMPLES_HELP}; the run splits them into training and validation rows")
    _form.widget(knobs["input_size"], cols[2])
    _form.widget(knobs["num_outputs"], cols[3])
    _form.data_widget("slider", "Label noise", "syn_noise", cols[4], min_value=NOISE_RANGE[0],
                      max_value=NOISE_RANGE[1], step=NOISE_STEP,
                      help=NOISE_HELP)
    choice = DataChoice("synthetic", int(form["input_size"]), int(form["num_outputs"]), rows=int(form["syn_samples"]),
                        noise=float(form["syn_noise"]))
else:  # the table is kept across source switches and page changes: the uploader itself forgets its file
    kept, labels = _upload.upload_and_labels(
        "train_csv", TRAIN_UPLOAD, lambda kept, columns, guessed: _form.label_picker(kept["key"], columns, guessed),
        preview=True, say_earlier=True)
    choice = DataChoice("csv", int(form["input_size"]), int(form["num_outputs"]), labels=labels,
                        frame=kept["frame"] if kept else None, name=kept["name"] if kept else None)
    if kept is not None:
        a, b, _ = st.columns([1, 1, 4])
        a.metric("Input size", len(kept["frame"].columns) - len(labels))
        b.metric("Number of outputs", len(labels))
        _upload.say_data_problem(kept, labels, "data_checked")

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

# -- start / stop / pause / queue ---------------------------------------------------------------------------------
live = bool(run_id) and reg.is_live(run_id)
shown = reg.view(run_id) if live else None
held = bool(shown and (shown.paused or shown.pausing))  # Pause reads Resume while the run waits (or is about to)
# Keyed: after Start (and a reload of a live run) the page scrolls here, so Stop and Pause are on screen with the
# run's status and first charts below them.
controls = st.container(key="run_controls")
start_col, queue_col, stop_col, pause_col, step_col, _ = controls.columns([1.3, 1.2, 0.8, 1, 1, 1.7])
start = start_col.button("Start training", type="primary", key="start", disabled=live)
enqueue = queue_col.button("Add to queue", key="enqueue",
                           help="start this run when every run before it has ended (also with no page open)")
control_buttons(reg, run_id, ME, live, held, [stop_col, pause_col, step_col])
# Below the buttons, folded: at 1400x900 the Start button stays on screen without scrolling.
with st.expander("Also log to TensorBoard", expanded=bool(st.session_state.get("tensorboard_dir"))):
    tensorboard_dir = st.text_input(
        "Folder (empty: off)", key="tensorboard_dir", placeholder="e.g. tb-logs",
        help="the run writes per-epoch losses and F1, per-label PR curves and its settings with the best metrics to "
             "FOLDER/<run id>; view them with: tensorboard --logdir FOLDER (needs: pip install tensorboard). For runs "
             "started with Start training (not for runs added to the queue)").strip()
confirm_control(reg, run_id, ME, live)
if (start or enqueue) and _form.problems():  # a number typed out of range: said under its box; not started
    error("Not started: " + "; ".join(_form.problems()))  # every one, as Search says them
    start = enqueue = False

if enqueue:
    try:
        data, config = choice.build(_form.config_from_form)
        item = reg.enqueue(config, data, started_by=ME)
    except MultilabelError as exc:
        error(exc)
    else:
        position = queue_position(reg.queued(), item, training=bool(reg.store.live_run_ids()))
        st.toast(f"Added to the queue at position {position}" if position else "Added to the queue: starting now")

queue_panel(reg, ME, run_id)

with st.expander("Command line: the same run without the dashboard"):
    try:
        command = train_command(_form.config_from_form(*choice.shape()), choice.description(), store=reg.store.home)
        if frames:
            st.code(command, language="bash", wrap_lines=True)
        else:
            st.text(command)
        if source != "Synthetic":
            st.caption(f"Replace `{plain(choice.file_name)}` with the path of that file on the machine that runs the "
                       "command: the dashboard does not keep a path for uploaded files.")
        st.caption("It trains in the terminal with a progress bar; with this `--store` the run also shows here, "
                   "on Runs, and can be stopped from the dashboard.")
    except MultilabelError as exc:
        error(exc)

panel = st.container(key="run_panel")  # the run's status and charts, right under Start
if start:
    # On screen at once, before the data is built and the run starts (which can take seconds on a busy machine).
    with panel:
        starting = st.empty()
    with starting.container():
        st.markdown("**Run** starting · status: **starting** · preparing data…")
        st.progress(0.0, text="preparing data…")
        # Keys of their own: when the start fails, the run on screen (if any) still draws its charts in this run.
        empty_charts("waiting for the first epoch…", suffix="starting")
    scroll_to(".st-key-run_controls")
    try:
        data, config = choice.build(_form.config_from_form)
        # A relative folder is the server's working directory's, where 'tensorboard --logdir' would be started.
        spec = TrackerSpec(tensorboard=str(Path(tensorboard_dir).expanduser().resolve())) if tensorboard_dir else None
        session = reg.start(config, data, started_by=ME, trackers=spec)
    except MultilabelError as exc:
        starting.empty()
        error(exc, panel)
    else:
        st.session_state[RUN_ID] = session.run_id
        st.session_state["scroll_to_run"] = True
        st.query_params["run"] = session.run_id
        st.rerun()  # draw the page again as 'live': Stop enabled, Start disabled, the view polling

# -- the run -------------------------------------------------------------------------------------------------------
if run_id:
    was_live = live
    # Until a just-started run reports its first epoch, look often, so the first point shows as soon as it exists.
    waiting = live and not reg.view(run_id).history

    poll = poll_s(live, len(reg.store.live_run_ids()) if live else 0, waiting, POLL_S, POLL_MAX_S, FIRST_POLL_S)

    @st.fragment(run_every=while_shown(poll))
    def live_view() -> None:
        view = reg.view(run_id)
        if page_outdated(view, was_live, waiting, held):
            st.rerun()  # the run ended, its first epoch came, or it paused: refresh the whole page once
        render(reg, view, ME, charts=frames)

    # The per-label charts cost a watching browser most of its drawing: they follow the run at a slower cadence.
    @st.fragment(run_every=while_shown(labels_poll_s(poll, held)))
    def labels_view() -> None:
        render_labels(reg.view(run_id), charts=frames)

    with panel:
        live_view()
        labels_view()
    # Start is at the bottom of the form: bring the controls and the run's status into view after Start, and when a
    # reload (or a link) opens the page on a run that is training.
    if st.session_state.pop("scroll_to_run", False) or (reopened and live):
        scroll_to(".st-key-run_controls")
else:
    with panel:
        training_now(reg, ME)
        st.info("Set the data and knobs, then press **Start training**. The run keeps going if you leave this page.")
        # The empty frames show where the curves will come, and load the chart code before Start is pressed.
        if frames:
            empty_charts("no run yet", suffix="frame")
if not frames:
    rerun_when_drawn(".st-key-start button", key="train_start_drawn")
charts_drawn()  # after the run panel: a control's click kept its charts for this page run only
