"""The Train page's run panel: one run's status and charts, its controls and their question, Continue, the queue.

Layout only: what to say and when comes from multilabel.trainview and app_pages._words.
"""

from __future__ import annotations

from typing import Callable

import streamlit as st

from multilabel import MultilabelError
from multilabel import trainview
from multilabel.charts import (empty_figure, loss_figure, metrics_figure, per_label_figure,
                               probability_histogram_figure, probe_heatmap)
from multilabel.jobs import DATA_SHAPED
from multilabel.session import RunView, SessionRegistry
from app_pages._keys import LOAD_FORM, PREDICT_RUN, RUN_ID, TRAIN_UPLOAD
from app_pages._nav import DRAWING, INSPECT, PREDICT, while_shown
from app_pages._shared import FIGURES, error, plain
from app_pages._words import (CONTROL_WORDS, changed_words, control_question, epoch_progress_words,
                              final_metrics_words, for_page, notes_lines, owner_line, queue_line, refitting_words,
                              run_state_words, setup_line, status_word)

CONFIRM = "confirm_control"  # (run id, action) of a control asked of another session's run, awaiting Yes / Cancel
CLICKED = "control_clicked"  # set by a control's click: the page run it starts keeps the charts as drawn
DRAWN = "run_panel_drawn"  # {chart key: (run id, figure)}: what this session last drew in the run panel


def empty_charts(note: str, suffix: str = "chart") -> None:
    """The loss and metrics chart frames, empty, with ``note`` where the curves will come."""
    a, b = st.columns(2)
    a.plotly_chart(empty_figure("Loss (binary cross-entropy per label)", note), key=f"loss_{suffix}")
    b.plotly_chart(empty_figure("Validation metrics (threshold 0.5)", note), key=f"metrics_{suffix}")


def scroll_to(selector: str) -> None:
    """Scroll the page so the element matching ``selector`` is near the top of the window, 1rem below its edge (a
    zero-height iframe)."""
    st.html(f"""<script>
      (function () {{
        const doc = window.parent.document;
        let tries = 0;
        const go = () => {{
          const el = doc.querySelector({selector!r});
          if (el) {{
            el.style.scrollMarginTop = "1rem";
            el.scrollIntoView({{block: "start"}});
          }} else if (tries++ < 40) {{ setTimeout(go, 50); }}
        }};
        go();
      }})();
    </script>""", unsafe_allow_javascript=True)


def open_run(run_id: str, settings: bool = True) -> None:
    """Show ``run_id`` on the next run of the page, with its settings in the form (``settings``) or the form as is."""
    st.session_state[RUN_ID] = run_id
    if settings:
        st.session_state[LOAD_FORM] = run_id
    st.query_params["run"] = run_id
    st.rerun()


def actions(reg: SessionRegistry) -> dict[str, Callable[..., None]]:
    return {"stop": reg.stop, "pause": reg.pause, "resume": reg.resume, "step": reg.step}


def control(reg: SessionRegistry, run_id: str, action: str, me: str) -> None:
    """Do ``action`` to the run. One epoch ("step") asks for the epoch after the one logged now (RunView.next_step),
    not one more than asked so far: Streamlit can deliver one click's callback twice, and twice must be one epoch."""
    if action == "step":
        reg.step(run_id, by=me, until=reg.view(run_id).next_step)
    else:
        actions(reg)[action](run_id, by=me)


def control_buttons(reg: SessionRegistry, run_id: str | None, me: str, live: bool, held: bool, cols: list) -> None:
    """Stop, Pause (Resume while ``held``) and One epoch in ``cols``: at once on this session's own run, after a
    question otherwise (see confirm_control).

    Button callbacks: they run before the page is drawn again, so the buttons and the status show the new state
    ('pausing after epoch N…', 'stopping…') from the store at once; the live view then follows the worker. They do
    not wait for the worker: a wait of up to 0.5 s here held every click's answer back by as much.
    """

    def on_click(action: str) -> None:
        st.session_state[CLICKED] = True
        if reg.view(run_id).started_by != me:
            st.session_state[CONFIRM] = (run_id, action)
            return
        control(reg, run_id, action, me)

    stop_col, pause_col, step_col = cols
    stop_col.button("Stop", key="stop", disabled=not live, on_click=on_click, args=("stop",))
    if held:
        pause_col.button("Resume", key="resume", disabled=not live, help="go on training", on_click=on_click,
                         args=("resume",))
    else:
        pause_col.button("Pause", key="pause", disabled=not live, on_click=on_click, args=("pause",),
                         help="wait after the current epoch, optimizer state kept; Resume goes on exactly")
    step_col.button("One epoch", key="step", disabled=not live, on_click=on_click, args=("step",),
                    help="train one more epoch, then wait (on a running run: finish this epoch, then wait)")


def chart(where, key: str, view: RunView, make: Callable[[], object]) -> None:
    """Draw the run panel's chart ``key`` in ``where``: ``make()``'s figure, or, in the page run that a control's
    click started on a live run, the figure this session last drew there. A click reruns the whole page, and new
    figures in that run made the browser redraw all five charts before it showed the new status; the polls that
    follow a live run bring the new points (a run that has ended gets its last figures at once)."""
    drawn = st.session_state.setdefault(DRAWN, {})
    last = drawn.get(key)
    if st.session_state.get(CLICKED) and view.alive and last is not None and last[0] == view.run_id:
        figure = last[1]
    else:
        figure = make()
        drawn[key] = (view.run_id, figure)
    where.plotly_chart(figure, key=key)


def charts_drawn() -> None:
    """End of the page run a control's click started: the next polls draw new figures again."""
    st.session_state.pop(CLICKED, None)


def confirm_control(reg: SessionRegistry, run_id: str | None, me: str, live: bool) -> None:
    """The question a control of another session's run asks, with Yes and Cancel."""
    confirm = st.session_state.get(CONFIRM)
    if not (live and confirm and confirm[0] == run_id):
        return
    action = confirm[1]
    st.warning(control_question(action, plain(owner_line(reg.view(run_id), me))))
    yes, no, _ = st.columns([1, 1, 4])
    # Stop keeps its own keys (stop_yes / stop_no) so that scripts and tests driving it keep working.
    prefix = "stop" if action == "stop" else "control"
    verb = CONTROL_WORDS[action][0]  # 'Stop it'
    if yes.button(f"Yes, {verb[0].lower()}{verb[1:]}", key=f"{prefix}_yes", type="primary"):
        control(reg, run_id, action, me)
        st.session_state.pop(CONFIRM)
        st.rerun()
    if no.button("Cancel", key=f"{prefix}_no"):
        st.session_state.pop(CONFIRM)
        st.rerun()


def queue_panel(reg: SessionRegistry, me: str, run_id: str | None) -> None:
    """The queue: waiting runs with their position (removable), and the runs it started for this tab (Open), with
    their status. Polls while runs wait or a run it started trains."""
    busy = trainview.queue_busy(reg.queued(), trainview.started_from_queue(reg.store, me), reg.store.live_run_ids())

    @st.fragment(run_every=while_shown(1.0 if busy else None))
    def queue_view() -> None:
        waiting = reg.queued()
        started = trainview.started_from_queue(reg.store, me)
        if trainview.queue_busy(waiting, started, reg.store.live_run_ids()) != busy:
            st.rerun()  # a run came or went since the page ran: redraw it all (the poll's cadence, the run)
        if not waiting and not started:
            return
        with st.container(key="queue_panel", border=True):
            st.markdown(f"**Queue** · {len(waiting)} waiting · the first starts when no run is training" if waiting
                        else "**Queue** · nothing waiting")
            for position, item in enumerate(waiting, 1):
                text_col, button_col = st.columns([6, 1], vertical_alignment="center")
                text_col.markdown(queue_line(position, item, me))
                if item["state"] == "waiting" and button_col.button("Remove", key=f"unqueue_{item['id']}"):
                    reg.unqueue(item["id"])
                    st.rerun()
            for item in reversed(started):
                text_col, button_col, dismiss_col = st.columns([6, 1, 1], vertical_alignment="center")
                if item["run_id"]:
                    status = status_word(item["run_status"]) if item["run_status"] else "deleted"
                    # What tells it from the others (seed 7): the waiting line said it, the started one did not
                    setting = ", ".join(changed_words(item.get("config") or {}, DATA_SHAPED))
                    text_col.caption(f"Started from the queue: run `{item['run_id']}`"
                                     + (f" ({plain(setting)})" if setting else "") + f" · {status}")
                    # A deleted run has nothing to open (its Open led back to the empty form, saying nothing)
                    if (item["run_status"] and item["run_id"] != run_id
                            and button_col.button("Open", key=f"open_queued_{item['id']}")):
                        open_run(item["run_id"])
                else:
                    text_col.caption(f"Could not start from the queue: {plain(for_page(item['error'] or ''))}")
                # A line stays until it is dismissed (the run stays on Runs); not while its run trains.
                if trainview.queue_line_done(item) and dismiss_col.button(
                        "Dismiss", key=f"dismiss_queued_{item['id']}", help="remove this line; the run stays"):
                    reg.store.dismiss_queued(item["id"])
                    st.rerun()

    queue_view()


def training_now(reg: SessionRegistry, me: str, most: int = 3) -> None:
    """With no run on this tab: the runs training now (a queue's, another tab's, the command line's), each with
    Open; a new tab said 'no run yet' while a run it had queued trained."""
    live = reg.store.live_run_ids()
    for run_id in live[:most]:
        text_col, button_col = st.columns([6, 1], vertical_alignment="center")
        text_col.caption(f"Training now: run `{run_id}` · {plain(owner_line(reg.view(run_id), me))}")
        if button_col.button("Open", key=f"open_live_{run_id}"):
            open_run(run_id)
    if len(live) > most:
        st.caption(f"… and {len(live) - most} more on the Runs page")


def continue_form(reg: SessionRegistry, view: RunView, me: str) -> None:
    """'Continue training': more epochs of a finished or stopped run, in a new run linked to it."""
    described = reg.store.get_run(view.run_id)["data"] or {}
    more_col, button_col, note_col = st.columns([1, 1, 3], vertical_alignment="bottom")
    parent = reg.store.get_run(view.continued_from) if view.continued_from else None
    more = more_col.number_input("More epochs", min_value=1, max_value=100_000, step=10, key="more_epochs",
                                 value=trainview.more_epochs_default(view, (parent or {}).get("info")))
    note_col.caption("Continues from the last epoch's weights and optimizer state in a new run that carries this "
                     "run's epochs; this run stays as it is. Same numbers as one run of the total length.")
    if not button_col.button("Continue training", key="continue"):
        return
    try:
        data = trainview.continue_data(described, st.session_state.get(TRAIN_UPLOAD))
        session = reg.continue_run(view.run_id, int(more), data, started_by=me)
    except MultilabelError as exc:
        error(exc)
        return
    # The form keeps what the person set: the new run's total epochs in it went on into Add to queue
    open_run(session.run_id, settings=False)


def render(reg: SessionRegistry, view: RunView, me: str, charts: bool = True) -> None:
    """One run's status and curves (a live snapshot or a stored run); render_labels draws its per-label view.
    ``charts=False`` (a page's arrival, before the browser has drawn the controls) says where the curves come."""
    history, info = view.history, view.info
    st.markdown(f"**Run** `{view.run_id}` · status: {run_state_words(view)} · {plain(owner_line(view, me))}")
    if view.continued_from:
        st.caption(f"Continued from run `{view.continued_from}`: its first epochs are that run's, carried over.")
    for line in notes_lines(view.notes, me):
        st.caption(plain(line))
    st.caption(setup_line(view))
    last = history[-1] if history else None
    if last:
        eta = trainview.eta_s(history, view.epochs) if view.alive else 0.0
        st.progress(min(last["epoch"] / view.epochs, 1.0),
                    text=epoch_progress_words(view, eta, trainview.refit_eta_range(view),
                                              trainview.samples_per_s(history, view.alive)))
    if last and view.alive and info.get("refitting"):
        st.caption(refitting_words(info["refitting"]))
    elif not last and view.alive:
        st.progress(trainview.first_epoch_fraction(view), text="first epoch…" if info else "preparing data…")
    if view.error:
        error(view.error)
    best = view.best
    if best:
        cols = st.columns(5)
        cols[0].metric("Best epoch", best["epoch"])
        cols[1].metric("Val micro-F1", f"{best['micro_f1']:.3f}")
        cols[2].metric("Val macro-F1", f"{best['macro_f1']:.3f}")
        cols[3].metric("Val Hamming loss", f"{best['hamming_loss']:.4f}")  # 4 decimals on every page
        cols[4].metric("Val subset accuracy", f"{best['subset_accuracy']:.3f}", help="exact match of all labels")
        st.caption(final_metrics_words(view))
        if view.checkpoint and st.button("Predict with this model", key="to_predict"):
            st.session_state[PREDICT_RUN] = view.run_id
            st.switch_page(PREDICT)
        if trainview.can_continue(view):
            continue_form(reg, view, me)
    if not charts:
        st.caption(DRAWING)
        return
    if not last:
        if view.alive:  # the chart frame is on screen from the start; points come with the first epoch
            empty_charts("waiting for the first epoch…")
        return
    # Figures by what they show: a poll that finds no new epoch, and other viewers of this run, reuse them.
    shown = (view.run_id, len(history), last["epoch"])
    a, b = st.columns(2)
    chart(a, "loss_chart", view,
          lambda: FIGURES.get((*shown, "loss", last["best_epoch"]), lambda: loss_figure(history, last["best_epoch"])))
    chart(b, "metrics_chart", view, lambda: FIGURES.get((*shown, "metrics"), lambda: metrics_figure(history)))


def render_labels(view: RunView, charts: bool = True) -> None:
    """The run's per-label view at its newest evaluated epoch: F1/AUROC bars, probability histograms, the probe
    heatmap. Nothing before the first evaluated epoch, nor while ``charts`` is False (see render)."""
    history, info = view.history, view.info
    evaluated = view.last_evaluated
    if evaluated is None or not charts:
        return
    shown = (view.run_id, len(history), history[-1]["epoch"])
    label_names = info.get("label_names") or list(evaluated["val_per_label"])
    shown_epoch = evaluated["epoch"]
    live_part = view.live or {}
    st.page_link(INSPECT, icon=":material/insights:",
                 label="Inspect: per-label PR/ROC curves, confusion and the network" + (
                 ", live" if view.alive else ""),
                 query_params={"run": view.run_id})
    # The probe heatmap is tall (a row per probe row): the bars and the histograms share the column beside it,
    # so neither column stands half empty.
    probe = bool(live_part.get("probe_probs") and info.get("probe_targets"))
    a, b = st.columns(2) if probe else (st.container(), None)
    chart(a, "per_label_chart", view,
          lambda: FIGURES.get((*shown, "per_label", shown_epoch),
                              lambda: per_label_figure(evaluated["val_per_label"], epoch=shown_epoch)))
    if live_part.get("prob_hist"):
        chart(a, "hist_chart", view,
              lambda: FIGURES.get((*shown, "hist", shown_epoch, probe),
                                  lambda: probability_histogram_figure(live_part["prob_hist"], label_names,
                                                                       epoch=shown_epoch, cols=2 if probe else 3)))
    if probe:
        chart(b, "probe_chart", view,
              lambda: FIGURES.get((*shown, "probe", shown_epoch),
                                  lambda: probe_heatmap(live_part["probe_probs"], info["probe_targets"], label_names,
                                                        epoch=shown_epoch)))
