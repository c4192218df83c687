"""Control of runs in worker processes: pause, one epoch, resume, stop while paused, continue, the queue.

Real worker processes and a real SQLite store. The exactness tests compare a worker-run pause/step/resume and a
continuation through the registry with one uninterrupted in-process run of the same length: same losses every epoch,
same final weights. Deadlines are safety nets, never speed checks; timings are printed, not asserted.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import pagetest
from multilabel import MultilabelError, load_checkpoint, make_synthetic, train
from multilabel.session import SessionRegistry
from multilabel.store import RunStore

from pagetest import WAIT_S


def wait_for(predicate, what: str, timeout: float = WAIT_S):
    return pagetest.wait_for(predicate, what, timeout, poll_s=0.01)  # control states can be brief: look often


def weights(trained) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in trained.model.state_dict().items()}


def losses(history) -> list[tuple[int, float, float]]:
    return [(r["epoch"], r["train_loss"], r["val_loss"]) for r in history]


def assert_same_run(view, expected) -> None:
    """A stored run (view) has exactly the numbers of an in-process TrainResult: every epoch's losses, the final
    checkpoint's weights, the best epoch and metrics."""
    assert losses(view.history) == losses(expected.history)
    assert view.best["epoch"] == expected.best_epoch
    assert view.best["micro_f1"] == expected.best["micro_f1"]
    stored = load_checkpoint(view.checkpoint)
    for name, value in weights(expected.trained).items():
        np.testing.assert_array_equal(weights(stored)[name], value)
    for name, value in expected.resume.model.items():  # the last weights too, not only the best ones
        assert torch.equal(torch.as_tensor(stored.resume["model"][name]), value)


def test_pause_one_epoch_and_resume_in_a_worker_give_the_numbers_of_an_uninterrupted_run(registry, store,
                                                                                        small_data, make_config):
    config = make_config(epochs=14, dropout=0.2)  # dropout: the CPU random stream must survive the wait too
    session = registry.start(config, small_data, started_by="browser session aaa")
    # Asked at once: 14 epochs of this data take well under the worker's 0.1 s between looks at the store, so a
    # pause asked after "two epochs" could come after the last one (the run would end instead of pausing).
    asked = time.monotonic()
    session.pause(by="browser session aaa")
    view = wait_for(lambda: (v := registry.view(session.run_id)).paused and v, "the run to pause")
    took = time.monotonic() - asked
    held = view.epoch
    assert view.status == "running" and view.alive and not view.pausing and held <= config.epochs - 5
    time.sleep(1.0)  # several epochs' worth of time (an epoch takes milliseconds here)
    view = registry.view(session.run_id)
    assert view.epoch == held and view.paused, "epochs were trained while paused"
    assert store.training_run_ids() == [], "a paused run still counts as using the cores"
    print(f"\npause took effect {took * 1000:.0f} ms after it was asked (epoch {held})")

    session.step(by="browser session aaa")
    view = wait_for(lambda: (v := registry.view(session.run_id)).epoch == held + 1 and v.paused and v,
                    "one more epoch, then paused again")
    time.sleep(0.5)
    assert registry.view(session.run_id).epoch == held + 1, "a step trained more than one epoch"
    session.step()
    session.step()  # two asks: two epochs
    view = wait_for(lambda: (v := registry.view(session.run_id)).epoch == held + 3 and v.paused and v,
                    "two more epochs")
    # A page passes the epoch its button was drawn for: the same click delivered twice trains one epoch.
    session.step(until=view.next_step)
    session.step(until=view.next_step)
    wait_for(lambda: (v := registry.view(session.run_id)).epoch == held + 4 and v.paused, "one more epoch")
    time.sleep(0.5)
    assert registry.view(session.run_id).epoch == held + 4, "a click delivered twice trained two epochs"

    session.resume(by="browser session aaa")
    assert session.join(timeout=WAIT_S)
    view = registry.view(session.run_id)
    assert view.status == "completed" and not view.paused and view.notes == []  # the owner's own clicks: no notes
    torch.set_num_threads(1)
    assert_same_run(view, train(config, small_data))


def test_stop_ends_a_paused_run_and_another_sessions_pause_leaves_a_note(registry, small_data, make_config):
    session = registry.start(make_config(epochs=100_000), small_data, started_by="browser session aaa")
    wait_for(lambda: registry.view(session.run_id).epoch >= 1, "an epoch")
    registry.pause(session.run_id, by="browser session bbb")
    wait_for(lambda: registry.view(session.run_id).paused, "the run to pause")
    registry.stop(session.run_id, by="browser session bbb")
    assert session.join(timeout=WAIT_S)
    view = registry.view(session.run_id)
    assert view.status == "stopped" and not view.paused and not view.alive
    assert [n["text"] for n in view.notes] == ["paused by browser session bbb", "stopped by browser session bbb"]
    assert load_checkpoint(view.checkpoint).resume is not None


def test_a_pause_asked_before_the_first_epoch_holds_the_run_at_epoch_0(registry, small_data, make_config):
    session = registry.start(make_config(epochs=5), small_data)
    registry.pause(session.run_id)
    view = wait_for(lambda: (v := registry.view(session.run_id)).paused and v, "the run to pause")
    assert view.epoch in (0, 1)  # the first epoch may have ended before the worker read the request
    registry.resume(session.run_id)
    assert session.join(timeout=WAIT_S) and registry.view(session.run_id).status == "completed"


def test_the_train_pages_one_epoch_delivered_twice_trains_one_epoch(registry, small_data, make_config):
    from app_pages._train_run import control

    session = registry.start(make_config(epochs=50), small_data, started_by="tab")
    registry.pause(session.run_id)
    held = wait_for(lambda: (v := registry.view(session.run_id)).paused and v, "the run to pause").epoch
    control(registry, session.run_id, "step", "tab")
    control(registry, session.run_id, "step", "tab")  # the same click's callback again (Streamlit can replay it)
    wait_for(lambda: (v := registry.view(session.run_id)).epoch == held + 1 and v.paused, "one epoch, then paused")
    time.sleep(0.5)
    assert registry.view(session.run_id).epoch == held + 1, "one click trained two epochs"
    control(registry, session.run_id, "step", "tab")  # a later click: the next epoch
    wait_for(lambda: (v := registry.view(session.run_id)).epoch == held + 2 and v.paused, "the next epoch")
    registry.stop(session.run_id)
    assert session.join(timeout=WAIT_S)


def test_continuing_a_run_through_the_registry_equals_one_uninterrupted_run(registry, store, small_data,
                                                                           make_config):
    config = make_config(epochs=10, dropout=0.2)
    first = registry.start(config.replace(epochs=4), small_data, started_by="browser session aaa")
    assert first.join(timeout=WAIT_S)
    parent_before = registry.view(first.run_id)
    assert parent_before.status == "completed" and parent_before.info["resumable"] == 4

    rest = registry.continue_run(first.run_id, 6, started_by="browser session aaa")  # synthetic data: rebuilt
    assert rest.run_id != first.run_id
    assert rest.join(timeout=WAIT_S)
    view = registry.view(rest.run_id)
    assert view.status == "completed", view.error
    assert view.continued_from == first.run_id and view.epochs == 10 and view.config["epochs"] == 10
    assert [r["epoch"] for r in view.history] == list(range(1, 11))  # the parent's epochs, then its own
    torch.set_num_threads(1)
    assert_same_run(view, train(config, small_data))

    parent = registry.view(first.run_id)  # the parent is left as it was
    assert parent.status == "completed" and losses(parent.history) == losses(parent_before.history)
    assert parent.checkpoint != view.checkpoint and load_checkpoint(parent.checkpoint).resume["epoch"] == 4

    again = registry.continue_run(rest.run_id, 2)  # a continuation continues too
    assert again.join(timeout=WAIT_S)
    assert registry.view(again.run_id).status == "completed"
    assert [r["epoch"] for r in registry.view(again.run_id).history] == list(range(1, 13))
    # The Runs table links each continuation to its parent.
    from multilabel.experiments import runs_frame
    table = runs_frame(store.list_runs()).set_index("run")
    assert table.loc[again.run_id, "continued from"] == rest.run_id
    assert table.loc[rest.run_id, "continued from"] == first.run_id and table.loc[first.run_id, "continued from"] == ""
    assert losses(registry.view(again.run_id).history)[:10] == losses(view.history)


def test_a_paused_then_continued_csv_run_needs_its_rows_and_refuses_others(registry, store, make_config,
                                                                          emotions_csv, emotion_labels):
    from multilabel.data import load_csv

    data = load_csv(str(emotions_csv), ",".join(emotion_labels))
    config = make_config(input_size=data.X.shape[1], num_outputs=data.Y.shape[1], epochs=2)
    first = registry.start(config, data)
    assert first.join(timeout=WAIT_S)
    with pytest.raises(MultilabelError, match="give the same file"):
        registry.continue_run(first.run_id, 2)
    shuffled = load_csv(str(emotions_csv), ",".join(emotion_labels))
    shuffled.X = shuffled.X[::-1].copy()
    with pytest.raises(MultilabelError, match="data differs"):
        registry.continue_run(first.run_id, 2, data=shuffled)
    with pytest.raises(MultilabelError, match="at least 1 more epoch"):
        registry.continue_run(first.run_id, 0, data=data)
    runs_before = len(store.list_runs())
    child = registry.continue_run(first.run_id, 2, data=data)
    assert child.join(timeout=WAIT_S) and registry.view(child.run_id).status == "completed"
    assert len(store.list_runs()) == runs_before + 1  # the refusals created no run


def test_live_failed_or_checkpointless_runs_cannot_be_continued(registry, store, small_data, make_config):
    live = registry.start(make_config(epochs=100_000), small_data)
    with pytest.raises(MultilabelError, match="is running; only a finished or stopped run"):
        registry.continue_run(live.run_id, 3)
    registry.stop(live.run_id)
    assert live.join(timeout=WAIT_S)
    old = store.create_run(make_config().to_dict(), small_data.description)  # as an older version left it
    store.finish(old, "completed")
    with pytest.raises(MultilabelError, match="no checkpoint with a resume state"):
        registry.continue_run(old, 3)


def test_an_early_stopped_run_continues_without_early_stopping(registry, make_config):
    data = make_synthetic(300, 6, 3, noise=1.5, seed=3)  # noisy: validation loss soon stops improving
    first = registry.start(make_config(epochs=400, patience=2, learning_rate=5e-2), data)
    assert first.join(timeout=WAIT_S)
    parent = registry.view(first.run_id)
    assert parent.status == "early_stopped"
    child = registry.continue_run(first.run_id, 3)
    assert child.join(timeout=WAIT_S)
    view = registry.view(child.run_id)
    assert view.status == "completed" and view.config["patience"] == 0
    assert view.epoch == parent.epoch + 3
    assert any("early stopping is off" in n["text"] for n in view.notes)


def test_queued_runs_start_one_after_another_and_a_removed_one_never_starts(registry, store, small_data,
                                                                           make_config):
    first = registry.start(make_config(epochs=100_000), small_data)
    b = registry.enqueue(make_config(epochs=3, seed=1), small_data, name="queued b", started_by="browser session a")
    c = registry.enqueue(make_config(epochs=3, seed=2), small_data, name="queued c")
    d = registry.enqueue(make_config(epochs=3, seed=3), small_data, name="queued d")
    assert [item["id"] for item in registry.queued()] == [b, c, d]
    assert registry.unqueue(d) and not store.queue_path(d).exists()
    time.sleep(3 * 0.5)  # several queue polls: nothing starts while a run is live
    assert [item["id"] for item in registry.queued()] == [b, c]
    assert len(store.list_runs()) == 1

    registry.stop(first.run_id)
    assert first.join(timeout=WAIT_S)
    wait_for(lambda: not registry.queued(), "the queue to start both runs")
    wait_for(lambda: not store.live_run_ids(), "the queued runs to end")
    runs = {run["name"]: store.get_run(run["id"]) for run in store.list_runs()}
    assert set(runs) == {first.run_id, "queued b", "queued c"}
    a_run, b_run, c_run = runs[first.run_id], runs["queued b"], runs["queued c"]
    assert b_run["status"] == c_run["status"] == "completed"
    assert a_run["finished_at"] <= b_run["created_at"] and b_run["finished_at"] <= c_run["created_at"]
    assert b_run["started_by"] == "browser session a" and b_run["config"]["seed"] == 1
    assert not store.queue_path(b).exists() and not store.queue_path(c).exists()
    torch.set_num_threads(1)
    expected = train(make_config(epochs=3, seed=1), small_data)
    assert losses(store.history(b_run["id"])) == losses(expected.history)
    wait_for(lambda: registry._queue_thread is None, "the queue thread to end with the queue empty", timeout=10)


def test_a_new_registry_goes_on_with_a_queue_left_by_another(store_home, small_data, make_config):
    first_store = RunStore(store_home)
    item = first_store.enqueue(make_config(epochs=2).to_dict(), small_data.description,
                               {"X": small_data.X, "Y": small_data.Y,
                                "feature_names": np.asarray(small_data.feature_names),
                                "label_names": np.asarray(small_data.label_names)}, name="left behind")
    store = RunStore(store_home)
    reg = SessionRegistry(store, threads_per_run=1)  # as a restarted server: its queue thread starts by itself
    wait_for(lambda: store.queue(("started",)), "the left queue item to start")
    run_id = store.queue(("started",))[0]["run_id"]
    assert store.queue(("started",))[0]["id"] == item
    assert reg.get(run_id).join(timeout=WAIT_S)
    assert store.get_run(run_id)["status"] == "completed" and store.get_run(run_id)["name"] == "left behind"


# -- the command line ----------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_continue_equals_one_uninterrupted_cli_run_and_refuses_changed_settings(cli, store_home, emotions_csv,
                                                                                  emotion_labels):
    import json as _json

    spec = ",".join(emotion_labels)
    common = ("--hidden-size", "16", "--patience", "0", "--seed", "3", "--quiet")
    whole = cli("train", "--data", emotions_csv, "--labels", spec, "--epochs", "6", *common)
    first = cli("train", "--data", emotions_csv, "--labels", spec, "--epochs", "4", *common)
    assert whole.returncode == first.returncode == 0, whole.stderr + first.stderr
    parent = _json.loads(first.stdout)["run_id"]

    refused = cli("train", "--continue", parent, "--epochs", "2", "--lr", "0.1")
    assert refused.returncode == 2 and refused.stderr.strip() == ("error: --continue keeps the run's own settings; "
                                                                  "leave out --lr")
    refused = cli("train", "--continue", parent, "--epochs", "2")  # a CSV run: the file is needed
    assert refused.returncode == 2 and "give the same file to continue it (--data)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    rest = cli("train", "--continue", parent, "--epochs", "2", "--data", emotions_csv, "--quiet")
    assert rest.returncode == 0, rest.stderr
    out = _json.loads(rest.stdout)
    assert out["continued_from"] == parent and out["epochs"] == 6 and out["epochs_run"] == 2
    store = RunStore(store_home)
    try:
        expected = _json.loads(whole.stdout)["run_id"]
        assert losses(store.history(out["run_id"])) == losses(store.history(expected))
        assert store.get_run(out["run_id"])["continued_from"] == parent
        a, b = load_checkpoint(store.checkpoint_path(out["run_id"])), load_checkpoint(store.checkpoint_path(expected))
        for name, value in weights(b).items():
            np.testing.assert_array_equal(weights(a)[name], value)
    finally:
        store.close()


# -- the Train page under AppTest ----------------------------------------------------------------------------------
# AppTest never fires st.fragment(run_every=...) by itself: waits re-run the script in a loop with a deadline.

import json  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
from pathlib import Path  # noqa: E402

from streamlit.testing.v1 import AppTest  # noqa: E402

from multilabel import TrainConfig  # noqa: E402
from multilabel.session import get_registry  # noqa: E402

from app_pages._nav import PAGES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TRAIN = {name.lower(): path for name, path in PAGES.items()}["train"]


# ``home`` (the pages' run store; queue emptied and live runs stopped afterwards) is a fixture of tests/conftest.py.


def train_page(run_id: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    if run_id:
        at.query_params["run"] = run_id
    return at.switch_page(TRAIN).run()


def page_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def shown_epoch(at: AppTest) -> int:
    for p in at.get("progress"):
        if p.proto.text.startswith("epoch "):
            return int(p.proto.text.split()[1].split("/")[0])
    return 0


def rerun_until(at: AppTest, done, what: str, timeout: float = 90) -> AppTest:
    deadline = time.monotonic() + timeout
    while not done(at):
        assert not at.exception, [e.value for e in at.exception]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting for {what}; page shows {page_text(at)!r}, "
                        f"errors {[e.value for e in at.error]}")
        time.sleep(0.1)
        at.run()
    return at


def paused_at(at: AppTest) -> int | None:
    match = re.search(r"status: \*\*paused\*\* at epoch (\d+)", page_text(at))
    return int(match[1]) if match else None


def start_long_run(at: AppTest) -> str:
    at.number_input(key="syn_samples").set_value(3000)
    at.slider(key="patience").set_value(0)
    at.slider(key="epochs").set_value(2000).run()
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at.session_state["run_id"]


def test_train_page_pauses_steps_resumes_and_the_pause_survives_a_reload(home):
    at = train_page()
    assert at.button(key="pause").disabled and at.button(key="step").disabled  # nothing to pause yet
    run_id = start_long_run(at)
    rerun_until(at, lambda a: shown_epoch(a) >= 1, "a first epoch")
    at.button(key="pause").click().run()
    assert not at.warning  # its own run: no question
    # The page drawn by the click already shows the request (no wait for the worker): Resume, and 'pausing…' or
    # 'paused' in the status.
    assert at.button(key="resume") and ("(pausing after epoch" in page_text(at) or paused_at(at) is not None)
    rerun_until(at, lambda a: paused_at(a) is not None, "the status to read paused")
    held = paused_at(at)
    progress = at.get("progress")[0].proto.text
    assert at.button(key="resume") and f"epoch {held}/2000 · paused · train loss" in progress
    assert "samples/s" not in progress and "ETA" not in progress  # a paused run has no speed and no ETA
    time.sleep(1.0)
    at.run()
    assert paused_at(at) == held and shown_epoch(at) == held  # no epoch while paused

    reloaded = train_page(run_id)  # a reload is a new session: the pause is in the store, not in the tab
    assert paused_at(reloaded) == held and reloaded.button(key="resume")

    at.button(key="step").click().run()
    rerun_until(at, lambda a: paused_at(a) == held + 1, "one more epoch, then paused")
    at.button(key="resume").click().run()
    rerun_until(at, lambda a: shown_epoch(a) >= held + 3 and paused_at(a) is None, "training to go on")
    assert "status: **running**" in page_text(at) and at.button(key="pause")
    at.button(key="pause").click().run()
    rerun_until(at, lambda a: paused_at(a) is not None, "a second pause")
    at.button(key="stop").click().run()  # Stop works on a paused run
    rerun_until(at, lambda a: "status: **stopped**" in page_text(a), "the paused run to stop")
    assert not [c.value for c in at.caption if c.value.startswith("Note (")]


def chart_specs(at: AppTest) -> dict[str, str]:
    """The run panel's plotly charts by title: their JSON specs as the page sent them."""
    specs = {}
    for element in at.get("plotly_chart"):
        spec = element.proto.spec
        specs[json.loads(spec)["layout"]["title"]["text"].split(" (")[0].split(" at epoch")[0]] = spec
    return specs


def test_a_controls_click_shows_the_new_status_with_the_charts_as_drawn_and_the_next_poll_brings_new_points(home):
    # A click reruns the whole page; new figures in that run made the browser redraw all five charts before it
    # painted 'pausing' (bench_controls.py). The click's page run keeps this session's figures; the polls move on.
    at = train_page()
    start_long_run(at)
    rerun_until(at, lambda a: shown_epoch(a) >= 2 and len(chart_specs(a)) == 5, "epochs and the per-label charts")
    drawn, drawn_epoch = chart_specs(at), shown_epoch(at)
    time.sleep(0.5)
    at.button(key="pause").click().run()
    assert at.button(key="resume") and ("(pausing after epoch" in page_text(at) or paused_at(at) is not None)
    assert shown_epoch(at) > drawn_epoch  # the status and the progress bar are the store's, new
    assert set(drawn) == {"Loss", "Validation metrics", "Per-label validation metrics",
                          "Predicted probability by true label", "Probability per label on validation rows"}
    assert chart_specs(at) == drawn  # as drawn: nothing for the browser to redraw
    at.run()
    now = chart_specs(at)
    assert now.keys() == drawn.keys() and now != drawn  # the next page run draws the new epochs
    assert now["Loss"] != drawn["Loss"]
    held = paused_at(rerun_until(at, lambda a: paused_at(a) is not None, "the pause"))
    at.button(key="stop").click().run()
    rerun_until(at, lambda a: "status: **stopped**" in page_text(a), "the stop")
    # An ended run has no polls to follow: its page shows its last epoch's curves.
    assert json.loads(chart_specs(at)["Loss"])["data"][0]["x"][-1] == held


def test_another_session_must_confirm_a_pause_which_leaves_a_note(home):
    owner = train_page()
    run_id = start_long_run(owner)
    other = train_page(run_id)
    other.button(key="pause").click().run()
    assert any("started by another browser session" in w.value and "Pause it anyway?" in w.value
               for w in other.warning)
    other.button(key="control_no").click().run()
    assert not other.warning and not get_registry(home).store.pause_state(run_id)[0]
    other.button(key="pause").click().run()
    other.button(key="control_yes").click().run()
    rerun_until(owner, lambda a: paused_at(a) is not None, "the other session's pause")
    assert any("paused by another browser session" in c.value for c in owner.caption)
    stored = get_registry(home).view(run_id).notes[0]["text"]  # who it was, said as another session to the owner
    assert stored == f"paused by browser session {other.session_state['browser_id']}"


def test_continue_training_from_the_train_page_makes_a_linked_run(home):
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=4, patience=0, seed=1).validate()
    parent = get_registry(home).start(config, make_synthetic(300, 6, 3, seed=1))
    assert parent.join(timeout=WAIT_S)
    at = train_page(parent.run_id)
    assert "status: **completed**" in page_text(at)
    assert at.number_input(key="more_epochs").value == 4  # a run of its own: its own epochs again
    at.number_input(key="more_epochs").set_value(3)
    at.button(key="continue").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    child = at.session_state["run_id"]
    assert child != parent.run_id and at.query_params["run"] == child
    rerun_until(at, lambda a: "status: **completed**" in page_text(a), "the continued run to finish")
    assert any(f"Continued from run `{parent.run_id}`" in c.value for c in at.caption)
    assert shown_epoch(at) == 7 and at.get("progress")[0].proto.text.startswith("epoch 7/7")
    spec = json.loads([el for el in at.get("plotly_chart") if el.proto.id.endswith("loss_chart")][0].proto.spec)
    assert spec["data"][0]["x"] == list(range(1, 8))  # the parent's 4 epochs and the 3 new ones, one curve
    stored = get_registry(home).store.get_run(child)
    assert stored["continued_from"] == parent.run_id and stored["config"]["epochs"] == 7
    # Continuing the continued run offers the 3 epochs it added, not its total of 7 (which doubled it each time).
    assert at.number_input(key="more_epochs").value == 3


def test_continue_training_leaves_the_forms_settings_and_the_queue_gets_them(home):
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=4, patience=0, seed=1).validate()
    parent = get_registry(home).start(config, make_synthetic(300, 6, 3, seed=1))
    assert parent.join(timeout=WAIT_S)
    at = train_page(parent.run_id)
    at.slider(key="epochs").set_value(9).run()  # the form's epochs, for the next run
    at.number_input(key="more_epochs").set_value(3)
    at.button(key="continue").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    child = at.session_state["run_id"]
    assert child != parent.run_id and get_registry(home).store.get_run(child)["config"]["epochs"] == 7
    # The continued run's 7 epochs went into the form, the link and then a queued run
    assert at.slider(key="epochs").value == 9 and at.query_params["epochs"] == "9"
    at.button(key="enqueue").click().run()
    (item,) = get_registry(home).store.queue(("waiting", "starting", "started"))
    assert item["config"]["epochs"] == 9


def test_continuing_a_csv_run_asks_for_the_file_again(home, emotions_csv, emotion_labels):
    from multilabel.data import load_csv

    data = load_csv(str(emotions_csv), ",".join(emotion_labels))
    config = TrainConfig(input_size=72, hidden_size=8, num_outputs=6, epochs=2, patience=0).validate()
    parent = get_registry(home).start(config, data)
    assert parent.join(timeout=WAIT_S)
    at = train_page(parent.run_id)
    at.button(key="continue").click().run()
    assert any("emotions.csv' again (Source: Upload CSV)" in pagetest.shown(e.value) for e in at.error), ([e.value for e in at.error], page_text(at))
    assert at.session_state["run_id"] == parent.run_id
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("emotions.csv", emotions_csv.read_bytes(), "text/csv")).run()
    at.number_input(key="more_epochs").set_value(2)
    at.button(key="continue").click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["run_id"] != parent.run_id
    rerun_until(at, lambda a: "status: **completed**" in page_text(a), "the continued CSV run")
    assert shown_epoch(at) == 4


def test_adding_to_an_idle_queue_says_the_run_starts_now_and_behind_a_run_gives_its_place(home):
    at = train_page()
    at.slider(key="epochs").set_value(3).run()
    at.button(key="enqueue").click().run()  # no run trains: the registry starts it at once
    assert [t.value for t in at.toast] == ["Added to the queue: starting now"]
    rerun_until(at, lambda a: not get_registry(home).queued() and not get_registry(home).store.live_run_ids(),
                "the queued run to start and end", timeout=120)
    first = start_long_run(at)
    at.button(key="enqueue").click().run()
    assert [t.value for t in at.toast] == ["Added to the queue at position 1"]
    assert get_registry(home).get(first).running


def test_the_queue_on_the_train_page_runs_one_after_another(home):
    at = train_page()
    first = start_long_run(at)
    at.slider(key="epochs").set_value(3).run()
    at.button(key="enqueue").click().run()
    at.slider(key="hidden_size").set_value(8).run()
    at.button(key="enqueue").click().run()
    at.number_input(key="seed").set_value(7).run()
    at.button(key="enqueue").click().run()
    assert not at.exception and not at.error
    lines = [m.value for m in at.markdown if re.match(r"\d\\\. ", m.value)]
    assert len(lines) == 3 and lines[0].startswith("1\\. 10 → 256 → 5 · 3 epochs")
    assert lines[1].startswith("2\\. 10 → 8 → 5") and "added by this browser session" in lines[1]
    # Alike but for the seed: the line says so (the two read as duplicates)
    assert "seed" not in lines[1] and lines[2].startswith("3\\. 10 → 8 → 5 · 3 epochs · lr 0.001 · seed 7 · ")
    assert "**Queue** · 3 waiting" in page_text(at)
    third = get_registry(home).queued()[2]["id"]
    at.button(key=f"unqueue_{third}").click().run()
    assert "**Queue** · 2 waiting" in page_text(at)

    at.button(key="stop").click().run()
    rerun_until(at, lambda a: sum("Started from the queue" in c.value for c in a.caption) == 2,
                "both queued runs to start", timeout=120)
    runs = get_registry(home).store.list_runs()
    assert len(runs) == 3  # the stopped run and the two queued ones; the removed one never started
    assert "**Queue** · nothing waiting" in page_text(at)
    opened = [b for b in at.button if b.key.startswith("open_queued_")][0]
    opened.click().run()
    assert at.session_state["run_id"] != first
    rerun_until(at, lambda a: "status: **completed**" in page_text(a), "the opened queued run")
    assert at.slider(key="epochs").value == 3  # the form shows the opened run's settings
    # each line the queue left says how its run is now, not only that it started
    rerun_until(at, lambda a: sum(c.value.startswith("Started from the queue") and c.value.endswith(" · completed")
                                  for c in a.caption) == 2, "both queued runs to read completed", timeout=120)
    started = [c.value for c in at.caption if c.value.startswith("Started from the queue")]
    # each says what differs from the defaults, as its waiting line did: the two read alike before
    assert sorted(c.split(" (")[1].split(")")[0] for c in started) == [
        "epochs 3, early\\-stopping patience 0", "hidden size 8, epochs 3, early\\-stopping patience 0"], started
    # An ended run's line can be dismissed (the run stays); the other line stays.
    dismiss = [b for b in at.button if b.key.startswith("dismiss_queued_")]
    assert len(dismiss) == 2
    dismiss[0].click().run()
    assert sum(c.value.startswith("Started from the queue") for c in at.caption) == 1
    assert len(get_registry(home).store.list_runs()) == 3


def test_a_queue_line_whose_run_was_deleted_offers_dismiss_and_no_open(home):
    # Two runs this browser queued, both started and ended; one was deleted since (on Runs). Its Open led back to
    # the empty form with nothing said.
    store = RunStore(home)
    me = "browser session c0ffee"
    config = TrainConfig(epochs=3).validate().to_dict()
    data = {"source": "synthetic", "rows": 300, "noise": 0.1}
    items = {}
    for name in ("kept", "deleted"):
        run = store.create_run(config, data, started_by=me)
        store.finish(run, "completed")
        items[name] = store.enqueue(config, data, {"X": np.zeros((1, 1))}, started_by=me)
        store.queued_started(items[name], run_id=run)
        if name == "deleted":
            store.delete_run(run)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.session_state["browser_id"] = "c0ffee"
    at.switch_page(TRAIN).run()
    assert not at.exception, [e.value for e in at.exception]
    lines = [c.value for c in at.caption if c.value.startswith("Started from the queue")]
    assert [line.rsplit(" · ", 1)[1] for line in lines] == ["deleted", "completed"], lines
    keys = {b.key for b in at.button}
    assert f"open_queued_{items['kept']}" in keys and f"open_queued_{items['deleted']}" not in keys
    assert {f"dismiss_queued_{items['kept']}", f"dismiss_queued_{items['deleted']}"} <= keys


def test_the_command_line_for_the_form_parses_back_to_the_same_config(home, emotions_csv):
    from multilabel.cli import _config_from_args, build_parser

    at = train_page()
    at.slider(key="hidden_size").set_value(64)
    at.slider(key="epochs").set_value(30).run()
    (code,) = at.code
    words = shlex.split(code.value)
    assert words[:4] == ["python", "-m", "multilabel", "train"]
    assert words[words.index("--store") + 1] == str(home.resolve())
    args = build_parser().parse_args(words[3:])
    assert args.synthetic and args.samples == 2000
    shown = _config_from_args(args, args.input_size or 10, args.num_outputs or 5)
    assert shown.hidden_size == 64 and shown.epochs == 30

    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("emotions.csv", emotions_csv.read_bytes(), "text/csv")).run()
    (code,) = at.code
    words = shlex.split(code.value)
    assert words[words.index("--data") + 1] == "emotions.csv" and "--labels" in words
    assert any("Replace `emotions\\.csv` with the path" in c.value for c in at.caption)
    args = build_parser().parse_args(words[3:])
    assert _config_from_args(args, 72, 6).hidden_size == 64


@pytest.mark.slow
def test_a_cli_run_pauses_and_resumes_from_a_registry_in_another_process(store_home, spawn_cli):
    child = spawn_cli("train", "--synthetic", "--samples", "400", "--input-size", "6", "--num-outputs", "3",
                      "--hidden-size", "16", "--epochs", "100000", "--patience", "0", "--quiet")
    store = RunStore(store_home)
    try:
        run_id = wait_for(lambda: store.list_runs() and store.list_runs()[0]["id"], "the CLI run to be stored")
        registry = SessionRegistry(store)
        wait_for(lambda: registry.view(run_id).epoch >= 1, "an epoch of the CLI run")
        registry.pause(run_id)
        held = wait_for(lambda: (v := registry.view(run_id)).paused and v, "the CLI run to pause").epoch
        time.sleep(0.5)
        assert registry.view(run_id).epoch == held
        registry.resume(run_id)
        wait_for(lambda: registry.view(run_id).epoch > held, "the CLI run to go on")
        registry.stop(run_id)
        assert child.wait(timeout=WAIT_S) == 0
        assert store.get_run(run_id)["status"] == "stopped"
    finally:
        store.close()
