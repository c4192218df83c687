"""The Search page under AppTest: a real background search process on a real SQLite study in this test's run store;
trials fill the table, Stop works like Ctrl-C, the ensemble is offered and Predict opens with it. Studies are tiny
(240 rows, 4 epochs, one split) so a shared 2-core machine runs them in seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import optuna
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from multilabel.config import knob_words
from multilabel import jobs, load_checkpoint, make_synthetic, search, searchview as sv
from multilabel.charts import search_importance_figure, search_parallel_figure, search_progress_figure
from multilabel.errors import MultilabelError

import pagetest
from app_pages._nav import PAGES
from app_pages._shared import plain
from pagetest import open_page, text

SEARCH, PREDICT = PAGES["Search"], PAGES["Predict"]
from pagetest import WAIT_S


@pytest.fixture
def home(tmp_path, monkeypatch) -> Iterator[Path]:
    """This test's run store; a search still running at the end is stopped, then killed if it will not end."""
    monkeypatch.setenv("MULTILABEL_HOME", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield tmp_path
    for job in jobs.list_jobs(tmp_path):
        jobs.stop_job(job["study"], tmp_path)
    deadline = time.monotonic() + 60
    while any(job["alive"] for job in jobs.list_jobs(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, child in list(jobs._CHILDREN.items()):  # only processes this test process started
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def app(page: str = SEARCH, **query: str) -> AppTest:
    return open_page(page, **query)


def wait_until(at: AppTest, done: Callable[[AppTest], bool], what: str, timeout: float = WAIT_S) -> AppTest:
    return pagetest.wait_until(at, done, what, timeout, poll_s=0.3)


def charts(at: AppTest) -> dict[str, dict]:
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def trials_shown(at: AppTest) -> pd.DataFrame | None:
    tables = [d.value for d in at.dataframe if "objective" in d.value.columns]
    return tables[0] if tables else None


def complete_shown(at: AppTest) -> int:
    table = trials_shown(at)
    return 0 if table is None else int((table["state"] == "complete").sum())


def start_tiny(at: AppTest, trials: int = 0, minutes: float = 0.0, name: str | None = None) -> AppTest:
    at.number_input(key="search_samples").set_value(240)
    at.number_input(key="search_inputs").set_value(6)
    at.number_input(key="search_outputs").set_value(3)
    at.number_input(key="search_minutes").set_value(minutes)
    at.number_input(key="search_trials").set_value(trials)
    at.number_input(key="search_epochs").set_value(4)
    at.number_input(key="search_folds").set_value(1)
    at.number_input(key="search_members").set_value(2)
    at.number_input(key="search_seeds").set_value(2)  # 2 configurations x 2 seeds: 4 nets
    if name is not None:
        at.text_input(key="search_name").set_value(name)
    at.run()
    at.button(key="search_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


# -- the page --------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_search_runs_in_the_background_shows_trials_stops_and_hands_its_ensemble_to_predict(home):
    at = app()
    assert [t.value for t in at.title] == ["Search"]
    assert at.text_input(key="search_name").value == "search-1"
    start_tiny(at, trials=1000)  # a budget it will not reach: Stop ends it
    assert at.session_state["search_study"] == "search-1"
    assert at.query_params["study"] == "search-1"
    job = jobs.find_job("search-1", home)
    assert job["alive"] and job["rows"] == 240 and job["labels"] == ["label_0", "label_1", "label_2"]

    wait_until(at, lambda at: complete_shown(at) >= 3, "three completed trials in the table")
    assert "status: **running**" in text(at)
    table = trials_shown(at)
    assert {"trial", "state", "objective", "Hamming", "micro-F1", *search.SPACE, "duration (s)"} <= set(table.columns)
    # A missing number (a waiting or pruned trial's objective) stays missing and is drawn as an empty cell: without
    # a placeholder st.dataframe draws the word "None".
    proto = next(d.proto for d in at.dataframe if "objective" in d.value.columns)
    assert proto.HasField("placeholder") and proto.placeholder == ""
    assert table.loc[table["state"] == "waiting", "objective"].isna().all()
    assert not table.loc[table["state"] == "complete", ["objective", "Hamming", "micro-F1"]].isna().any().any()
    # The table shows what the study in the run store's SQLite file holds.
    summary = search.study_summary(search.default_storage(home), "search-1")
    stored = {t["number"]: t for t in summary["trials"] if t["state"] == "COMPLETE"}
    for _, row in table[table["state"] == "complete"].iterrows():
        assert row["objective"] == pytest.approx(stored[row["trial"]]["value"])
        assert row["hidden_size"] == str(stored[row["trial"]]["params"]["hidden_size"])
    figures = charts(at)
    assert figures["search_parallel"]["data"][0]["type"] == "parcoords"
    assert figures["search_progress"]["data"][1]["name"] == "best so far"
    # Tiny trials finish fast: by this render there may already be enough for the importance chart.
    if complete_shown(at) < search.MIN_IMPORTANCE_TRIALS:
        assert any(f"needs {search.MIN_IMPORTANCE_TRIALS} completed trials" in i.value and "Meanwhile the chart below"
                   in i.value for i in at.info)
    else:
        assert "search_importance" in figures
    # The status counts trials by state, as the caption used to: a waiting trial is never counted as finished.
    status = next(m.value for m in at.markdown if m.value.startswith("status:"))
    assert "finished" not in status and " complete" in status
    assert at.button(key="search_stop").disabled is False
    # Importance comes once enough trials have completed, as fANOVA bars over the searched knobs.
    wait_until(at, lambda at: "search_importance" in charts(at), "the importance chart")
    assert complete_shown(at) >= search.MIN_IMPORTANCE_TRIALS
    bars = charts(at)["search_importance"]["data"][0]
    assert set(bars["y"]) <= {knob_words(n) for n in search.SPACE} and sum(bars["x"]) == pytest.approx(1.0)

    at.button(key="search_stop").click().run()
    wait_until(at, lambda at: "status: **stopped**" in text(at), "the search to stop", timeout=WAIT_S)
    job = jobs.find_job("search-1", home)
    assert not job["alive"] and job["stop_requested"] and job["result"]["interrupted"] is True
    done = job["result"]["states"]["COMPLETE"]
    assert done >= 3  # what was finished is kept
    assert at.button(key="search_stop").disabled is True
    # Ended: the best trial heads the table, the completed ones in order of their objective.
    ended = trials_shown(at)
    finished = ended[ended["state"] == "complete"]
    assert finished.index.tolist() == list(range(len(finished))) and finished["objective"].is_monotonic_increasing
    assert ended["trial"].iloc[0] == job["result"]["best"]["number"]
    assert any("Ensemble of the best 2 configurations x 2 seeds (4 nets)" in s.value for s in at.success)
    # The honest estimate: one fold per trial here, so no spread and no verdict against the defaults.
    estimate = sv.estimate_line(job["result"]["estimate"])
    assert job["result"]["estimate"] == search.study_summary(search.default_storage(home), "search-1",
                                                             members=2)["estimate"]
    assert estimate.startswith("estimated Hamming ") and "over" not in estimate and estimate.endswith(
        ("one fold cannot tell the best trial from the defaults", "no trial did better than the defaults"))
    assert estimate in [c.value for c in at.caption]
    ensemble = load_checkpoint(job["ensemble"])
    assert job["seeds"] == 2 and len(ensemble.nets) == 4 and ensemble.label_names == ["label_0", "label_1", "label_2"]
    assert "search_onnx" in {b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")}  # the ensemble as ONNX

    at.button(key="search_to_predict").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Predict"]
    at.switch_page(PREDICT).run()  # AppTest keeps its own page choice: follow the switch by hand
    assert at.selectbox(key="predict_run_select").value == "search:search-1"
    assert any("2 labels" not in c.value and "6 features → 3 labels" in c.value for c in at.caption)


@pytest.mark.slow
def test_a_reload_with_the_study_in_the_url_finds_the_search_again(home):
    first = app()
    start_tiny(first, trials=2)
    # A new session (a reload, another tab) with ?study= in the URL: nothing from the first session's memory.
    at = app(study="search-1")
    assert at.session_state["search_study"] == "search-1"
    wait_until(at, lambda at: "status: **finished**" in text(at), "the 2-trial search to finish")
    assert complete_shown(at) + int((trials_shown(at)["state"] != "complete").sum()) == 2
    assert at.button(key="search_to_predict").label == "Use the ensemble on Predict"
    assert len(load_checkpoint(jobs.find_job("search-1", home)["ensemble"]).nets) == 4

    # Refit the single best configuration with one seed instead: a background process replaces the checkpoint.
    at.number_input(key="search_refit_members").set_value(1)
    at.number_input(key="search_refit_seeds").set_value(1)
    at.button(key="search_refit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    wait_until(at, lambda at: "status: **finished**" in text(at) and not jobs.find_job("search-1", home)["alive"],
               "the refit to end")
    assert at.button(key="search_to_predict").label == "Use the best model on Predict"
    single = load_checkpoint(jobs.find_job("search-1", home)["ensemble"])
    assert len(single.nets) == 1 and single.metrics["members"] == 1

    # The picker lists it; choosing "new" shows the form again with the next free name.
    assert at.selectbox(key="search_pick").value == "search-1"
    at.selectbox(key="search_pick").set_value("(start a new search)").run()
    assert at.text_input(key="search_name").value == "search-2"
    assert "study" not in at.query_params


@pytest.mark.slow
def test_a_refit_shows_its_progress_under_the_status_line(home):
    at = app()
    start_tiny(at, trials=2)
    wait_until(at, lambda at: "status: **finished**" in text(at), "the 2-trial search to finish")
    assert not at.get("progress")  # no refit going on: no bar
    # The same columns, 1,000 times the rows: the refit of its 2 configurations x 2 seeds takes seconds.
    job = jobs.find_job("search-1", home)
    big = make_synthetic(240_000, 6, 3, seed=1)
    frame = pd.DataFrame(big.X, columns=job["features"])
    frame[job["labels"]] = big.Y.astype(np.int8)
    frame.to_csv(job["data_csv"], index=False)
    at.button(key="search_refit").click().run()
    seen: list[tuple[float, str]] = []

    orders: list[list[int]] = []

    def watch(at: AppTest) -> bool:
        seen.extend((el.proto.value, el.proto.text) for el in at.get("progress")
                    if not el.proto.text.startswith("Refit: starting"))  # its process loading torch and the study
        if trials_shown(at) is not None:
            orders.append(list(trials_shown(at)["trial"]))
        return not jobs.find_job("search-1", home)["alive"]
    wait_until(at, watch, "the refit to end")
    assert seen, "no progress bar while the refit ran"
    assert len({v for v, _ in seen}) >= 2, seen  # it moved while the page watched
    assert all(text.startswith("Refit on all 240,000 rows: configuration ") and " (2 nets each) · " in text
               and text.endswith(" epochs of all configurations") for _, text in seen), seen
    assert [v for v, _ in seen] == sorted(v for v, _ in seen) and all(0 <= v <= 100 for v, _ in seen)
    best = [t["number"] for t in sv.table_order(search.study_summary(search.default_storage(home), "search-1")
                                                 ["trials"], searching=False)]
    assert orders and all(order == best for order in orders)  # the best first throughout, as once it ended
    at.run()
    assert "status: **finished**" in text(at) and not at.get("progress")


@pytest.mark.slow
def test_a_first_draw_sends_the_trials_table_alone_and_the_next_run_adds_the_charts(home):
    # Sent with the table, plotly's first load in a new tab kept the table off the screen for seconds; the browser
    # asks for the charts once it has drawn the table (a component's trigger, which AppTest does not run: the next
    # run stands for it).
    jobs.launch(make_synthetic(120, 4, 2, seed=1), "one", home=home, trials=2, folds=1, members=1, epochs=2)
    deadline = time.monotonic() + WAIT_S
    while jobs.find_job("one", home)["alive"] and time.monotonic() < deadline:
        time.sleep(0.2)
    at = app(study="one")
    assert not at.exception and "status: **finished**" in text(at)
    assert len(trials_shown(at)) == 2
    assert charts(at) == {} and any(c.value == "Drawing the charts…" for c in at.caption)
    at.run()
    assert not at.exception and len(trials_shown(at)) == 2
    assert {"search_progress", "search_parallel"} <= set(charts(at))
    assert not any(c.value == "Drawing the charts…" for c in at.caption)
    at.switch_page(PAGES["Home"]).run()  # back by the sidebar: the table alone again, then the charts
    at.switch_page(SEARCH).run()
    assert not at.exception and len(trials_shown(at)) == 2
    assert charts(at) == {} and any(c.value == "Drawing the charts…" for c in at.caption)
    at.run()
    assert {"search_progress", "search_parallel"} <= set(charts(at))


@pytest.mark.slow
def test_a_search_stopped_before_any_trial_completed_says_so_once_and_draws_no_empty_charts(home):
    jobs.launch(make_synthetic(20_000, 10, 5, seed=1), "early", home=home, trials=4, folds=3, members=1, epochs=500)
    deadline = time.monotonic() + WAIT_S
    while not ((sv.job_summary(jobs.find_job("early", home)) or {}).get("states") or {}).get("RUNNING"):
        assert time.monotonic() < deadline, "the first trial never started"
        time.sleep(0.1)
    jobs.stop_job("early", home)  # long before the first trial can complete
    while jobs.find_job("early", home)["alive"]:
        assert time.monotonic() < deadline, "the search did not stop"
        time.sleep(0.2)
    at = app(study="early")
    at.run()  # the run that would add the charts
    assert not at.exception and "status: **stopped**" in text(at)
    assert "COMPLETE" not in sv.job_summary(jobs.find_job("early", home))["states"]
    assert charts(at) == {}  # no empty frames saying "no completed trial yet" under an ended search
    assert not any(c.value == "Drawing the charts…" for c in at.caption)
    assert [w.value for w in at.warning] == ["The search ended before any trial completed, so there is no ensemble. "
                                             "Start a new search with a larger budget."]
    assert not [i.value for i in at.info]  # not a second box saying "completed 0 trials … a longer budget"


def test_empty_search_figures_name_their_own_axes():
    progress = search_progress_figure([]).to_dict()["layout"]
    assert progress["xaxis"]["title"]["text"] == "trial"
    space = {"hidden_size": ("cat", [64, 128])}
    for fig in (search_parallel_figure([], space), search_importance_figure({})):
        assert "epoch" not in json.dumps(fig.to_dict()["layout"])


def test_a_stale_study_link_says_so_and_offers_a_new_search(home):
    at = app(study="nope")
    assert not at.exception
    assert any("No search named nope" in w.value for w in at.warning)
    assert at.button(key="search_start") is not None


def test_start_without_a_budget_or_with_a_taken_name_is_one_clear_line(home):
    at = app()
    start = at.button(key="search_start")
    at.number_input(key="search_minutes").set_value(0.0).run()
    at.button(key="search_start").click().run()
    assert not at.exception and [e.value for e in at.error] == [plain("give the search a budget: minutes, trials, or both")]
    assert jobs.list_jobs(home) == []
    at.text_input(key="search_name").set_value("bad name!").run()
    at.number_input(key="search_trials").set_value(1).run()
    at.button(key="search_start").click().run()
    assert len(at.error) == 1 and "not usable" in at.error[0].value
    assert start is not None and jobs.list_jobs(home) == []


def test_a_number_typed_out_of_range_is_said_and_holds_the_start(home):
    """Streamlit's own bounds kept 10000 minutes in red in the browser and sent nothing: Start used the old value."""
    at = app()
    at.number_input(key="search_minutes").set_value(10_000.0).run()
    said = [e.value for e in at.error]
    assert said == ["Minutes (0 = no time limit): 10,000 is not between 0 and 600; type a number in that range"]
    at.button(key="search_start").click().run()
    assert any(e.value.startswith("not started") for e in at.error) and jobs.list_jobs(home) == []
    at.number_input(key="search_epochs").set_value(-4).run()  # the refusal names every number out of range
    at.button(key="search_start").click().run()
    refusal = next(e.value for e in at.error if e.value.startswith("not started")).replace("\\", "")  # unescaped
    assert "Minutes (0 = no time limit): 10,000" in refusal and "Max epochs per trial: -4" in refusal
    at.number_input(key="search_minutes").set_value(2.0).run()
    at.number_input(key="search_epochs").set_value(20).run()
    assert not at.error


def test_the_synthetic_data_takes_what_train_takes(home):
    """Search stopped at 200,000 samples where Train took 2,000,000 (a walk), and its shape ranges were its own."""
    at = app()
    at.number_input(key="search_samples").set_value(1_500_000).run()
    at.number_input(key="search_inputs").set_value(256).run()
    assert not at.error
    at.number_input(key="search_inputs").set_value(257).run()
    at.number_input(key="search_outputs").set_value(33).run()
    said = [e.value for e in at.error]
    assert said == ["Input size (features): 257 is not between 1 and 256; type a number in that range",
                    "Number of outputs (labels): 33 is not between 1 and 32; type a number in that range"]
    noise = at.slider(key="search_noise")
    assert (noise.min, noise.max, noise.step, noise.value) == (0.0, 2.0, 0.05, 0.1)


def test_every_data_and_budget_box_has_help_in_train_s_words(home):
    from multilabel.config import knobs
    at = app()
    helps = {k.name: k.metadata["help"] for k in knobs()}
    assert at.number_input(key="search_inputs").help == helps["input_size"]  # TrainConfig's words, as on Train
    assert at.number_input(key="search_outputs").help == helps["num_outputs"]
    assert at.slider(key="search_noise").help == ("noise added to the hidden teacher's logits before thresholding; "
                                                  "0 = learnable exactly")  # pages/1_Train.py's Label noise
    for key in ("search_samples", "search_trials"):
        assert at.number_input(key=key).help, key
    train = app(PAGES["Train"])  # the same words on Train's boxes (Train's Samples had none)
    assert train.slider(key="syn_noise").help == at.slider(key="search_noise").help
    assert train.number_input(key="syn_samples").help.split(";")[0] == at.number_input(key="search_samples").help.split(
        ";")[0] == "rows of synthetic data, labelled by a hidden teacher net"


def test_the_uploaded_table_s_caption_says_it_is_kept_as_on_train(home):
    at = app()
    at.radio(key="search_source").set_value("Upload CSV").run()
    rows = "".join(f"{i},{i * 2},{i % 2}\n" for i in range(30))
    at.file_uploader(key="search_csv").set_value(("t.csv", ("a,b,y\n" + rows).encode(), "text/csv")).run()
    assert not at.exception
    assert any(c.value.endswith("30 rows × 3 columns (kept until you upload another file)") for c in at.caption), \
        [c.value for c in at.caption]


def test_a_text_feature_column_is_said_when_the_file_is_chosen(home):
    at = app()
    at.radio(key="search_source").set_value("Upload CSV").run()
    rows = "".join(f"{i},{'bad' if i == 2 else i},{i % 2}\n" for i in range(30))
    at.file_uploader(key="search_csv").set_value(("t.csv", ("f1,comment,y\n" + rows).encode(), "text/csv")).run()
    said = [e.value for e in at.error]  # before Start, as on Train (it came only after Start)
    assert len(said) == 1 and "feature column 'comment'" in said[0] and "numeric" in said[0], said


def test_csv_data_defaults_its_labels_to_the_trailing_binary_columns(home, emotions_csv, emotion_labels):
    at = app()
    at.radio(key="search_source").set_value("Upload CSV").run()
    at.file_uploader(key="search_csv").set_value(("emotions.csv", emotions_csv.read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error
    assert at.multiselect(key="search_labels").value == emotion_labels
    assert any(plain("emotions.csv") + ": 593 rows × 78 columns" in c.value for c in at.caption)
    assert len(at.dataframe) == 1 and at.dataframe[0].value.shape == (5, 78)  # its first rows, as on Train


# -- the library parts the page stands on ----------------------------------------------------------------------------

@pytest.mark.slow
def test_jobs_are_found_from_their_files_and_a_dead_one_is_not_alive(home):
    data = make_synthetic(120, 4, 2, seed=1)
    job = jobs.launch(data, "one", home=home, trials=1, folds=1, members=1, epochs=2)
    assert job["alive"]
    with pytest.raises(MultilabelError, match="exists already"):
        jobs.launch(data, "one", home=home, trials=1)
    deadline = time.monotonic() + WAIT_S
    while jobs.find_job("one", home)["alive"] and time.monotonic() < deadline:
        time.sleep(0.2)
    done = jobs.find_job("one", home)
    assert not done["alive"] and done["result"]["states"] == {"COMPLETE": 1}
    assert done["ensemble"] == str(home / "search" / "one.pt") and not done["stop_requested"]
    assert jobs.stop_job("one", home) is False  # nothing left to stop
    assert [j["study"] for j in jobs.list_jobs(home)] == ["one"]
    assert jobs.next_study_name(home) == "search-1"
    with pytest.raises(MultilabelError, match="give the search a budget"):
        jobs.launch(data, "two", home=home)


@pytest.mark.slow
def test_stop_reaches_every_worker_process_of_a_search(home):
    job = jobs.launch(make_synthetic(240, 6, 3, seed=2), "two", home=home, trials=1000, folds=1, jobs=2,
                        members=1, epochs=3)
    storage = job["storage"]
    deadline = time.monotonic() + WAIT_S
    while True:  # both workers have told at least one trial (the helper is a child of the search process)
        try:
            summary = search.study_summary(storage, "two")
        except MultilabelError:  # the process has not created the study yet
            summary = {"states": {}}
        if summary["states"].get("COMPLETE", 0) >= 4 and jobs.child_pids(int(job["token"].split(":")[0])):
            break
        assert time.monotonic() < deadline, f"the two workers did not get going: {summary['states']}"
        time.sleep(0.3)
    helpers = jobs.child_pids(int(job["token"].split(":")[0]))
    assert jobs.stop_job("two", home) is True
    deadline = time.monotonic() + WAIT_S
    while jobs.find_job("two", home)["alive"]:
        assert time.monotonic() < deadline, "the search did not end after Stop"
        time.sleep(0.3)
    for pid in helpers:  # no helper keeps running trials after Stop
        assert not Path(f"/proc/{pid}").exists() or b") Z" in Path(f"/proc/{pid}/stat").read_bytes()
    after = search.study_summary(storage, "two")
    assert "RUNNING" not in after["states"]
    assert jobs.find_job("two", home)["result"]["interrupted"] is True


def test_importance_needs_enough_completed_trials_then_sums_to_one(tmp_path):
    storage = f"sqlite:///{tmp_path / 'imp.db'}"
    study = optuna.create_study(storage=storage, study_name="imp")
    rng = np.random.default_rng(0)
    for i in range(search.MIN_IMPORTANCE_TRIALS):
        study.enqueue_trial({"hidden_size": [64, 128][i % 2], "dropout": float(rng.random() * 0.6)})
        study.optimize(lambda t: t.suggest_categorical("hidden_size", [64, 128]) / 100
                       + t.suggest_float("dropout", 0.0, 0.6) * 0.01, n_trials=1)
        if i == 0:
            with pytest.raises(MultilabelError, match=f"needs {search.MIN_IMPORTANCE_TRIALS} completed trials; 1"):
                search.param_importances(storage, "imp")
    found = search.param_importances(storage, "imp")
    assert set(found) == {"hidden_size", "dropout"} and sum(found.values()) == pytest.approx(1.0)
    assert found["hidden_size"] > found["dropout"]  # hidden size moves the objective 100x more
    bars = search_importance_figure(found)
    assert list(bars.data[0].y) == ["dropout", "hidden size"]  # most important on top, in the Train form's words


def test_search_figures_follow_the_trials():
    trials = [
        {"number": 0, "state": "COMPLETE", "value": 0.3, "params": {"hidden_size": 64, "learning_rate": 1e-3},
         "hamming": 0.2, "micro_f1": 0.6},
        {"number": 1, "state": "PRUNED", "value": None, "params": {"hidden_size": 128, "learning_rate": 1e-2}},
        {"number": 2, "state": "COMPLETE", "value": 0.35, "params": {"hidden_size": 128, "learning_rate": 1e-2},
         "hamming": 0.25, "micro_f1": 0.55},
        {"number": 3, "state": "COMPLETE", "value": 0.2, "params": {"hidden_size": 64, "learning_rate": 3e-3},
         "hamming": 0.15, "micro_f1": 0.7},
    ]
    progress = search_progress_figure(trials)
    assert list(progress.data[0].x) == [0, 2, 3] and list(progress.data[1].y) == [0.3, 0.3, 0.2]
    space = {"hidden_size": ("cat", [64, 128, 256]), "learning_rate": ("log", (1e-4, 1e-2))}
    par = search_parallel_figure(trials, space)
    dims = par.data[0].dimensions
    assert [d.label for d in dims] == ["hidden size", "learning rate<br>(log)", "objective"]
    assert list(dims[0].values) == [0, 1, 0] and list(dims[0].ticktext) == ["64", "128", "256"]
    assert list(dims[1].values) == pytest.approx([-3, -2, np.log10(3e-3)])
    assert list(dims[2].values) == [0.3, 0.35, 0.2]
    assert "no completed trial yet" in json.dumps(search_progress_figure(trials[1:2]).to_dict())
