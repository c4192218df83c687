"""The Runs page as experiments, under streamlit.testing.v1.AppTest, on a real run store of runs trained in worker
processes: columns, sort and filter, rename and notes, the history CSV download, parallel coordinates, smoothing and
the log scale, and a live run's row.

Each test works on its own copy of one store (MULTILABEL_HOME points at the copy): app_pages/_shared.py caches the
registry per home folder, so a distinct folder isolates the tests."""

from __future__ import annotations

import re

import io
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from multilabel import TrainConfig, make_synthetic
from multilabel import experiments as ex
from multilabel.session import get_registry
from multilabel.store import MAX_NAME, RunStore

from app_pages._nav import RUNS, TRAIN

REPO = Path(__file__).resolve().parents[1]
from pagetest import WAIT_S
SETTINGS = [("small adam", 8, 1e-2, "adam", 1), ("wide adamw", 32, 1e-3, "adamw", 2), ("mid adam", 16, 5e-2, "adam", 3)]


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """One store with three finished runs of different settings (names in SETTINGS), oldest first."""
    home = tmp_path_factory.mktemp("runs_page_src")
    registry = get_registry(home)
    ids = {}
    for name, hidden, lr, optimizer, seed in SETTINGS:
        config = TrainConfig(input_size=6, hidden_size=hidden, num_outputs=3, epochs=6 + seed, learning_rate=lr,
                             optimizer=optimizer, patience=0, seed=seed, device="cpu").validate()
        session = registry.start(config, make_synthetic(300, 6, 3, seed=seed), name=name)
        assert session.join(timeout=WAIT_S) and session.snapshot()["status"] == "completed"
        ids[name] = session.run_id
    registry.store.close()
    return home, ids


@pytest.fixture
def home(trained_home, tmp_path, monkeypatch) -> Path:
    """This test's copy of the trained store, set as MULTILABEL_HOME; live runs are stopped at the end."""
    copy = tmp_path / "home"
    shutil.copytree(trained_home[0], copy)
    monkeypatch.setenv("MULTILABEL_HOME", str(copy))
    yield copy
    for session in get_registry(copy).active():
        session.stop()
        session.join(timeout=30)


@pytest.fixture
def ids(trained_home) -> dict[str, str]:
    return trained_home[1]


def runs_page() -> AppTest:
    """The Runs page as a browser session sees it: the first draw, then the run its timer asks for (the charts)."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.switch_page(RUNS)
    at.run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def shown_runs(at: AppTest) -> list[str]:
    return table(at)["run"].tolist()


def charts(at: AppTest) -> dict[str, dict]:
    return {el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def store_of(home: Path) -> RunStore:
    return get_registry(home).store


def test_the_table_shows_every_setting_and_chosen_columns(home, ids):
    at = runs_page()
    frame = table(at)
    assert list(frame.columns) == ex.all_columns()
    assert shown_runs(at) == [ids["mid adam"], ids["wide adamw"], ids["small adam"]]  # newest first
    assert frame["name"].tolist() == ["mid adam", "wide adamw", "small adam"]
    assert frame["hidden"].tolist() == [16, 32, 8] and frame["optimizer"].tolist() == ["adam", "adamw", "adam"]
    assert list(at.dataframe[0].proto.column_order) == list(ex.DEFAULT_COLUMNS)
    at.multiselect(key="columns").select("seed").select("optimizer").unselect("data").run()
    assert list(at.dataframe[0].proto.column_order) == [c for c in ex.DEFAULT_COLUMNS if c != "data"] + [
        "seed", "optimizer"]
    assert "3 of 3 runs shown" in captions(at)
    # the one run's line names its duration ('· 7.6 s ·' alone read as nothing in particular)
    assert re.search(r"status: \w+ · .* · took \d+\.\d s · validation metrics", captions(at)), captions(at)


def test_text_columns_are_as_wide_as_their_longest_text(home, ids):
    # 'small' (75 px) cut "stopped early" to "stopped earl…" and a file name like "emotions.csv" short
    from multilabel.predictview import header_px

    RunStore(home).finish(ids["mid adam"], "early_stopped")
    at = runs_page()
    widths = {name: c.get("width") for name, c in json.loads(at.dataframe[0].proto.columns).items()}
    assert widths["status"] >= header_px("stopped early")
    assert widths["data"] >= header_px("synthetic") and widths["name"] >= header_px("wide adamw")
    assert widths["name"] <= 240 and widths["data"] <= 180  # a long name or file name does not take the table


def test_a_first_draw_sends_the_table_alone_and_the_next_run_adds_the_charts(home, ids):
    # Sent with the table, plotly's first load in a new tab kept the table off the screen for seconds.
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.switch_page(RUNS)
    at.run()
    assert not at.exception
    assert shown_runs(at) == [ids["mid adam"], ids["wide adamw"], ids["small adam"]]
    assert charts(at) == {} and "Drawing the charts…" in captions(at)
    assert not [w for w in at.multiselect if w.key == "compare"]
    at.run()  # what the browser's timer asks for once it has the table
    assert not at.exception
    assert {"parallel", "overlay_loss", "overlay_f1"} <= set(charts(at)) and "Drawing the charts" not in captions(at)
    at.text_input(key="f_text").input("small").run()  # later runs of the page draw them at once
    assert [t["name"] for t in charts(at)["overlay_loss"]["data"]] == ["small adam"]
    # Back by the sidebar from another page: the table alone again (sent with it, the charts held a later visit's
    # table back as long as a new tab's), then the charts.
    at.switch_page(TRAIN).run()
    at.switch_page(RUNS).run()
    assert not at.exception and shown_runs(at)
    assert charts(at) == {} and "Drawing the charts…" in captions(at)
    at.run()
    assert not at.exception and {"parallel", "overlay_loss", "overlay_f1"} <= set(charts(at))


def test_sort_and_filter(home, ids):
    at = runs_page()
    at.selectbox(key="sort").set_value("lr").run()
    at.toggle(key="descending").set_value(False).run()
    assert shown_runs(at) == [ids["wide adamw"], ids["small adam"], ids["mid adam"]]
    at.selectbox(key="sort").set_value("name").run()
    assert table(at)["name"].tolist() == ["mid adam", "small adam", "wide adamw"]

    at.text_input(key="f_text").input("ADAMW").run()
    assert shown_runs(at) == [ids["wide adamw"]] and "1 of 3 runs shown" in captions(at)
    at.text_input(key="f_text").input("").run()
    assert at.multiselect(key="f_status").options == ["completed"]  # the statuses present, in words
    at.multiselect(key="f_status").select("completed").run()
    assert len(shown_runs(at)) == 3
    at.selectbox(key="range_on").set_value("hidden").run()
    at.slider(key="range_hidden").set_value((10, 32)).run()
    assert shown_runs(at) == [ids["mid adam"], ids["wide adamw"]]
    at.selectbox(key="range_on").set_value("(none)").run()
    assert len(shown_runs(at)) == 3

    at.text_input(key="f_text").input("no such run").run()
    assert not at.exception and shown_runs(at) == [] and "0 of 3 runs shown" in captions(at)
    assert "parallel" not in charts(at)


def test_a_filter_narrows_the_runs_offered_for_comparison(home, ids):
    at = runs_page()
    assert at.multiselect(key="compare").value == [ids["mid adam"], ids["wide adamw"], ids["small adam"]]
    at.text_input(key="f_text").input("small").run()
    assert at.multiselect(key="compare").value == [ids["small adam"]]
    assert [t["name"] for t in charts(at)["overlay_loss"]["data"]] == ["small adam"]  # names label the lines


def test_one_run_picks_among_the_runs_the_filters_let_through(home, ids):
    # It listed every run, and showed one, under a table that showed none ("0 of 6 runs shown").
    at = runs_page()
    picker = next(s for s in at.selectbox if s.label == "Run")
    assert set(picker.options) == {"mid adam", "small adam", "wide adamw"}
    at.text_input(key="f_text").input("small").run()
    picker = next(s for s in at.selectbox if s.label == "Run")
    assert picker.options == ["small adam"] and picker.value == ids["small adam"]
    at.text_input(key="f_text").input("no such run").run()
    assert not at.exception and not [s for s in at.selectbox if s.label == "Run"]
    assert "No run matches the filters above" in captions(at)


def test_rename_shows_the_name_everywhere_and_refuses_bad_names_with_one_line(home, ids):
    run_id = ids["wide adamw"]
    at = runs_page()
    at.selectbox(key="detail_run").set_value(run_id).run()
    at.text_input(key=f"name_{run_id}").input("baseline AdamW").run()
    at.button(key="rename").click().run()
    assert not at.exception and not at.error
    assert store_of(home).get_run(run_id)["name"] == "baseline AdamW"
    assert table(at).set_index("run").loc[run_id, "name"] == "baseline AdamW"
    # The browser keeps a picker's choice as the text it showed: a rename gives the pickers new keys and carries
    # their choices over, so the renamed run stays chosen under its new name.
    assert at.selectbox(key="detail_run_v1").value == run_id
    assert "baseline AdamW" in at.selectbox(key="detail_run_v1").options
    assert at.multiselect(key="compare_v1").value == [ids["mid adam"], run_id, ids["small adam"]]
    assert "baseline AdamW" in at.multiselect(key="compare_v1").options
    assert "baseline AdamW" in [t["name"] for t in charts(at)["overlay_loss"]["data"]]

    for bad, message in (("   ", "a run name cannot be empty"), ("x" * (MAX_NAME + 5), "at most")):
        at.text_input(key=f"name_{run_id}").input(bad).run()
        at.button(key="rename").click().run()
        assert not at.exception
        assert len(at.error) == 1 and message in at.error[0].value and "\n" not in at.error[0].value
        assert store_of(home).get_run(run_id)["name"] == "baseline AdamW"  # nothing saved is lost
    at.run()
    assert not at.error  # the error is shown once, not on every later rerun


def test_notes_are_added_edited_and_deleted(home, ids):
    run_id = ids["mid adam"]
    at = runs_page()
    assert at.selectbox(key="detail_run").value == run_id
    at.text_area(key=f"new_note_{run_id}").input("lr too high?").run()
    at.button(key="add_note").click().run()
    assert [n["text"] for n in store_of(home).get_run(run_id)["notes"]] == ["lr too high?"]
    assert at.text_area(key=f"new_note_{run_id}").value == ""  # ready for the next note
    assert "lr too high?" in captions(at)

    at.text_area(key=f"note_text_{run_id}_0").input("lr 0.05 overshoots").run()
    at.button(key="note_save").click().run()
    assert [n["text"] for n in store_of(home).get_run(run_id)["notes"]] == ["lr 0.05 overshoots"]
    assert table(at).set_index("run").loc[run_id, "notes"] == "lr 0.05 overshoots"
    at.text_input(key="f_text").input("overshoots").run()  # notes are searched
    assert shown_runs(at) == [run_id]

    at.text_area(key=f"new_note_{run_id}").input("   ").run()
    at.button(key="add_note").click().run()
    assert len(at.error) == 1 and "a note cannot be empty" in at.error[0].value
    at.button(key="note_delete").click().run()
    assert not at.exception and store_of(home).get_run(run_id)["notes"] == []


def test_the_history_download_is_the_runs_history_as_csv_with_stable_bytes(home, ids, downloads):
    run_id = ids["small adam"]
    at = runs_page()
    at.selectbox(key="detail_run").set_value(run_id).run()
    at.run()
    csvs = [d for d in downloads if d["filename"] == f"{run_id}-history.csv"]
    assert len(csvs) >= 2 and all(d["data"] == csvs[0]["data"] for d in csvs)  # the same bytes on every rerun
    assert csvs[0]["mimetype"] == "text/csv"
    frame = pd.read_csv(io.BytesIO(csvs[0]["data"]))
    history = store_of(home).history(run_id)
    assert frame["epoch"].tolist() == [r["epoch"] for r in history]
    assert frame["val_loss"].tolist() == pytest.approx([r["val_loss"] for r in history])
    labels = {b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")}
    assert {"download_history", "download_ckpt", "download_onnx", "html_parallel", "html_loss", "html_f1"} <= labels


def test_parallel_coordinates_smoothing_and_log_scale(home, ids):
    at = runs_page()
    figure = charts(at)["parallel"]
    (trace,) = figure["data"]
    labels = [d["label"] for d in trace["dimensions"]]
    assert labels == ["hidden", "max epochs", "lr (log)", "seed", "optimizer", *ex.METRIC_COLUMNS]
    assert trace["line"]["color"] == pytest.approx(table(at)["val micro-F1"].tolist())
    at.selectbox(key="pc_color").set_value("val loss").run()
    trace = charts(at)["parallel"]["data"][0]
    assert trace["line"]["color"] == pytest.approx(table(at)["val loss"].tolist()) and trace["line"]["reversescale"]

    assert len(charts(at)["overlay_loss"]["data"]) == 3  # no smoothing: one line per run
    at.slider(key="smoothing").set_value(0.6).run()
    at.toggle(key="log_loss").set_value(True).run()
    loss, f1 = charts(at)["overlay_loss"], charts(at)["overlay_f1"]
    names = [t["name"] for t in loss["data"]]
    assert names == ["mid adam (raw)", "mid adam", "wide adamw (raw)", "wide adamw", "small adam (raw)", "small adam"]
    history = store_of(home).history(ids["mid adam"])
    assert loss["data"][1]["y"] == pytest.approx(ex.ema([r["val_loss"] for r in history], 0.6))
    assert loss["layout"]["yaxis"]["type"] == "log" and f1["layout"]["yaxis"].get("type") != "log"
    assert len(f1["data"]) == 6


def test_a_live_run_is_listed_as_running_with_its_epochs_so_far(home, ids):
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=2000, patience=0, device="cpu",
                         batch_size=32).validate()
    session = get_registry(home).start(config, make_synthetic(2000, 6, 3, seed=9), name="long one")
    at = runs_page()
    deadline = time.monotonic() + WAIT_S
    while table(at).set_index("run").loc[session.run_id, "epochs run"] < 2:
        assert time.monotonic() < deadline, "the live run's epochs never showed"
        time.sleep(0.3)
        at.run()
    row = table(at).set_index("run").loc[session.run_id]
    assert row["status"] == "running" and row["name"] == "long one"
    assert at.multiselect(key="compare").value[0] == session.run_id
    seen = row["epochs run"]
    while table(at).set_index("run").loc[session.run_id, "epochs run"] <= seen:  # each poll shows newer epochs
        assert time.monotonic() < deadline
        time.sleep(0.3)
        at.run()
    at.selectbox(key="detail_run").set_value(session.run_id).run()
    line = next(c.value for c in at.caption if c.value.startswith(f"Run id {session.run_id}"))
    assert "status: running" in line and "took" not in line  # no duration before it has ended
    session.stop()
    assert session.join(timeout=WAIT_S)
    at.run()
    assert not at.exception
    assert table(at).set_index("run").loc[session.run_id, "status"] == "stopped"
    line = next(c.value for c in at.caption if c.value.startswith(f"Run id {session.run_id}"))
    assert re.search(r"took \d+\.\d s", line)


def test_a_run_without_a_measured_epoch_has_empty_metric_cells_not_the_word_none(home, ids):
    store = store_of(home)
    config = TrainConfig(input_size=6, hidden_size=8, num_outputs=3, epochs=4, device="cpu").validate()
    run_id = store.create_run(config.to_dict(), make_synthetic(300, 6, 3).description, name="never measured")
    store.fail(run_id, "could not start a worker process")
    at = runs_page()
    row = table(at).set_index("run").loc[run_id]
    assert row["name"] == "never measured" and all(pd.isna(row[c]) for c in ex.METRIC_COLUMNS)
    # st.dataframe draws a missing number as "None" unless told what to draw instead.
    proto = at.dataframe[0].proto
    assert proto.HasField("placeholder") and proto.placeholder == ""


def runs_page_at(run: str) -> AppTest:
    """The Runs page opened by a link ending in ?run=<run>, both draws of a new tab."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.query_params["run"] = run
    at.switch_page(RUNS)
    at.run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_one_run_opens_the_run_in_the_link_and_says_when_it_is_not_there(home, ids):
    oldest = ids["small adam"]
    at = runs_page_at(oldest)
    assert at.selectbox(key="detail_run").value == oldest and not at.warning
    at.button(key="open_train").click().run()
    assert at.session_state["run_id"] == oldest  # "Open on the Train page" opens the run of the link
    at = runs_page()  # no link: the newest, and the URL names it (a reload keeps the run)
    assert at.selectbox(key="detail_run").value == ids["mid adam"] and at.query_params["run"] == ids["mid adam"]
    at.selectbox(key="detail_run").set_value(oldest).run()
    assert at.query_params["run"] == oldest
    at = runs_page_at("nosuch")
    line = "No run nosuch in this run store (unknown or deleted); showing the table's first run instead."
    assert [w.value for w in at.warning] == [line]  # through both draws of a new tab
    assert at.selectbox(key="detail_run").value == ids["mid adam"]
    at.selectbox(key="detail_run").set_value(oldest).run()
    assert not at.warning


def test_clearing_a_filter_brings_back_the_runs_compared_before_it(home, ids):
    """A filter hides compared runs from 'Compare runs'; clearing it compares them again (it emptied the picker)."""
    at = runs_page()
    everyone = [ids["mid adam"], ids["wide adamw"], ids["small adam"]]
    assert at.multiselect(key="compare").value == everyone
    at.text_input(key="f_text").input("nothing compared matches this").run()
    at.text_input(key="f_text").input("adamw").run()
    assert at.multiselect(key="compare").value == [ids["wide adamw"]]
    at.text_input(key="f_text").input("").run()
    assert at.multiselect(key="compare").value == everyone
    assert {t["name"] for t in charts(at)["overlay_loss"]["data"]} == set(SETTINGS_NAMES)
    at.text_input(key="f_text").input("small").run()  # an edit under a filter: the hidden runs stay compared
    at.multiselect(key="compare").unselect(ids["small adam"]).run()
    assert at.multiselect(key="compare").value == []
    at.text_input(key="f_text").input("").run()
    assert at.multiselect(key="compare").value == [ids["mid adam"], ids["wide adamw"]]


SETTINGS_NAMES = [s[0] for s in SETTINGS]


def test_a_range_slider_reads_its_ends_as_the_table_prints_them(home, ids):
    """'Range on val micro-F1' printed 0.71-0.93 over a table of 0.715-0.934: its ends now take the table's digits
    (3 decimals, Hamming loss 4) and it steps by the last one; a whole-number column keeps steps of 1."""
    at = runs_page()
    for column, digits in (("val micro-F1", 3), ("val Hamming", 4)):
        at.selectbox(key="range_on").set_value(column).run()
        slider = at.slider(key=f"range_{column}")
        values = table(at)[column]
        assert slider.proto.format == f"%.{digits}f" and slider.proto.step == pytest.approx(10.0 ** -digits)
        assert (slider.proto.min, slider.proto.max) == pytest.approx((values.min(), values.max()))  # none left out
        assert slider.value == pytest.approx((values.min(), values.max()))
    at.selectbox(key="range_on").set_value("hidden").run()
    assert at.slider(key="range_hidden").proto.step == 1
