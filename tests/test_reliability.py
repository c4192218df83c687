"""Reliability of the library and the CLI: a one-row file refused up front with no failed run or trial left
behind, a refused --continue leaving no run, a killed search reading "died", a queue outliving its server."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from multilabel import TrainConfig, jobs, make_synthetic, search
from multilabel.data import dataset_from_frame
from multilabel.errors import MultilabelError
from multilabel.session import SessionRegistry
from multilabel.store import RunStore

import pagetest
from app_pages._nav import PAGES

ONE_ROW = "a,b,y\n1.0,2.0,1\n"


def runs_in(store_home) -> list[dict]:
    if not RunStore.exists(store_home):
        return []
    store = RunStore(store_home)
    try:
        return store.list_runs()
    finally:
        store.close()


def test_cli_train_refuses_a_one_row_file_and_keeps_no_run(cli, write_csv, store_home):
    path = write_csv(ONE_ROW, "tiny.csv")
    done = cli("train", "--data", path, "--labels", "y", "--epochs", "3")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "tiny.csv" in lines[0] and "1 data row" in lines[0], done.stderr
    assert runs_in(store_home) == []


def test_cli_search_refuses_a_one_row_file(cli, write_csv, store_home):
    path = write_csv(ONE_ROW, "tiny.csv")
    done = cli("search", "--data", path, "--labels", "y", "--trials", "2", "--quiet")
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "tiny.csv" in lines[0] and "at least 2" in lines[0], done.stderr
    assert done.stdout == ""  # no summary of a study of failed trials


def test_registry_and_search_launch_refuse_one_row(store_home):
    data = make_synthetic(50, 3, 2, seed=0)
    one = dataset_from_frame(pd.DataFrame({"a": [1.0], "y": [1]}), ["y"], "'one.csv'")
    registry = SessionRegistry(RunStore(store_home))
    config = TrainConfig(input_size=1, num_outputs=1, epochs=2).validate()
    with pytest.raises(MultilabelError, match="'one.csv' has 1 data row"):
        registry.start(config, one)
    with pytest.raises(MultilabelError, match="at least 2"):
        registry.enqueue(config, one)
    assert registry.store.list_runs() == [] and registry.queued() == []
    with pytest.raises(MultilabelError, match="'one.csv' has 1 data row"):
        jobs.launch(one, "s1", home=store_home, trials=2)
    assert jobs.list_jobs(store_home) == []
    registry.store.close()
    assert data.num_rows == 50


def test_search_page_refuses_a_one_row_upload_naming_the_file(store_home):
    at = AppTest.from_file(str(pagetest.REPO / "app.py"), default_timeout=30)
    at.switch_page(PAGES["Search"])
    at.session_state["train_upload"] = {"id": "u1", "key": "one.csv:1", "name": "one.csv",
                                        "frame": pd.DataFrame({"a": [1.0], "y": [1]})}
    at.run()
    at.radio(key="search_source").set_value("Upload CSV").run()
    at.multiselect(key="search_labels").set_value(["y"]).run()
    said = [e.value for e in at.error]  # under the table, as soon as the labels are chosen
    assert len(said) == 1 and "one\\.csv" in said[0] and "1 data row" in said[0], said
    at.button(key="search_start").click().run()
    errors = [e.value for e in at.error]  # and again where Start was pressed
    assert errors == said * 2, errors
    assert jobs.list_jobs(store_home) == []


@pytest.mark.slow
def test_refused_continue_leaves_no_run(cli, store_home):
    done = cli("train", "--synthetic", "--samples", "200", "--epochs", "3", "--quiet")
    assert done.returncode == 0, done.stderr
    parent = json.loads(done.stdout)
    with open(parent["checkpoint"], "r+b") as fh:  # damaged on disk: not a zip any more
        fh.write(b"garbage!" * 8)
    done = cli("train", "--continue", parent["run_id"], "--epochs", "2", "--quiet")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert [r["id"] for r in runs_in(store_home)] == [parent["run_id"]]


def test_dashboard_continue_of_a_damaged_checkpoint_leaves_no_run(cli, store_home):
    done = cli("train", "--synthetic", "--samples", "200", "--epochs", "3", "--quiet")
    parent = json.loads(done.stdout)
    with open(parent["checkpoint"], "r+b") as fh:
        fh.write(b"garbage!" * 8)
    registry = SessionRegistry(RunStore(store_home))
    with pytest.raises(MultilabelError, match=r"\.pt'"):
        registry.continue_run(parent["run_id"], 2)
    assert [r["id"] for r in registry.store.list_runs()] == [parent["run_id"]]
    registry.store.close()
    assert np.isfinite(parent["best"]["val_loss"])


# -- a killed search reads "died", its running trial too ----------

def test_a_killed_search_reads_died_not_finished(store_home, monkeypatch):
    import os
    import signal
    import time

    from multilabel.jobs import owner_pid

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    job = jobs.launch(make_synthetic(240, 5, 3, seed=0), "doomed", home=store_home, trials=50, folds=1,
                        members=1, epochs=2000)
    try:
        deadline = time.monotonic() + 120
        while True:  # until a trial is running in the study
            try:
                summary = search.study_summary(job["storage"], "doomed")
            except MultilabelError:
                summary = {"states": {}}
            if summary["states"].get("RUNNING"):
                break
            assert time.monotonic() < deadline, "no trial started"
            time.sleep(0.2)
        os.kill(owner_pid(job["token"]), signal.SIGKILL)
        jobs._CHILDREN[owner_pid(job["token"])].wait(timeout=30)
        found = jobs.find_job("doomed", store_home)
        assert not found["alive"] and found["outcome"] == "died"
        settled = jobs.settle(search.study_summary(job["storage"], "doomed"), found)
        assert "RUNNING" not in settled["states"] and settled["states"]["DIED"] >= 1
        assert all(t["state"] != "RUNNING" for t in settled["trials"])

        at = AppTest.from_file(str(pagetest.REPO / "app.py"), default_timeout=30)
        at.switch_page(PAGES["Search"])
        at.query_params["study"] = "doomed"
        at.run()
        assert not at.exception
        page = pagetest.text(at)
        assert "status: **died**" in page and "finished" not in page.split("status:")[1].split("·")[0], page
        assert any("ended without finishing" in e.value for e in at.error)
        states = {state for frame in at.dataframe if "state" in frame.value.columns for state in frame.value["state"]}
        assert "died" in states and "running" not in states, states
    finally:
        for child in jobs._CHILDREN.values():
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)


# -- the queue goes on after the server that queued it is gone ----------

SERVER = r"""
import sys, time
from multilabel import TrainConfig, make_synthetic
from multilabel.session import get_registry
registry = get_registry(sys.argv[1])
config = TrainConfig(input_size=5, hidden_size=8, num_outputs=3, epochs=300, patience=0, refit="none").validate()
registry.start(config, make_synthetic(2000, 5, 3, seed=0), name="first")
short = TrainConfig.from_dict({**config.to_dict(), "epochs": 3})
registry.enqueue(short, make_synthetic(200, 5, 3, seed=1), name="second")
registry.enqueue(short, make_synthetic(200, 5, 3, seed=2), name="third")
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_the_queue_goes_on_after_the_server_is_killed_with_no_page_open(store_home, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from multilabel.jobs import owner_pid

    server = subprocess.Popen([sys.executable, "-c", SERVER, str(store_home)], cwd=pagetest.REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        statuses = {r["name"]: r["status"] for r in runs_in(store_home)}
        assert statuses == {"first": "running"}, statuses  # the queue has not moved yet
        server.kill()  # kill -9 of the server: no atexit, no registry left anywhere
        server.wait(timeout=30)
        deadline = time.monotonic() + 180
        while True:
            statuses = {r["name"]: r["status"] for r in runs_in(store_home)}
            if statuses == {"first": "completed", "second": "completed", "third": "completed"}:
                break
            assert time.monotonic() < deadline, f"the queue did not go on without the server: {statuses}"
            time.sleep(0.3)
        store = RunStore(store_home)
        assert store.queue() == []
        assert [q["state"] for q in store.queue(("started", "failed"))] == ["started", "started"]
        store.close()
    finally:
        if server.poll() is None:
            server.kill()
        for run in runs_in(store_home):  # a worker left training by a failed test: only ours, by its pid
            if run["status"] == "running" and owner_pid(run["owner"]):
                try:
                    os.kill(owner_pid(run["owner"]), signal.SIGKILL)
                except ProcessLookupError:
                    pass


# -- an interrupted run's best metrics come from the epochs it logged ----------

def test_an_interrupted_run_has_best_metrics_from_its_logged_epochs(spawn_cli, cli, store_home):
    import time

    child = spawn_cli("train", "--synthetic", "--samples", "2000", "--epochs", "5000", "--patience", "0", "--quiet")
    deadline = time.monotonic() + 120
    while not (runs_in(store_home) and runs_in(store_home)[0]["epochs_done"] >= 4):
        assert time.monotonic() < deadline and child.poll() is None, "the run did not log 4 epochs"
        time.sleep(0.2)
    child.kill()  # kill -9: nothing is recorded at the end
    child.wait(timeout=30)
    store = RunStore(store_home)
    run = store.list_runs()[0]
    history = store.history(run["id"])
    store.close()
    assert run["status"] == "interrupted"
    measured = [r for r in history if r.get("val_micro_f1") is not None]
    top = min(measured, key=lambda r: r["val_loss"])
    assert run["best"]["epoch"] == top["epoch"] and run["best"]["micro_f1"] == top["val_micro_f1"]
    listed = cli("runs")
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith(run["id"]))
    assert f"{top['val_micro_f1']:.3f}" in line and f"{top['val_hamming_loss']:.3f}" in line, line
    at = pagetest.open_page(PAGES["Train"], run=run["id"])  # the run's panel shows them, no KeyError on thresholds
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Best epoch"] == str(top["epoch"])

