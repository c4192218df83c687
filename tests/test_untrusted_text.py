"""Text from outside the code (URL values, column and label names, run names, notes, stored errors) is shown as
typed on every page: no Markdown image, link or color from it, plus the warnings about bad URL values
and the Search page's file name.

Every hostile string names the host ``evil.test``. plain() escapes the dot, so the raw substring ``evil.test`` in
the Markdown source of an element means that text reached Streamlit unescaped: it would be rendered as an image, a
link or a colored badge (tests/browser/test_untrusted_browser.py checks the same in Chromium, with no request
leaving 127.0.0.1). Each test also checks that the escaped text is on the page, so a page that shows nothing cannot
pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from multilabel import TrainConfig, make_synthetic
from multilabel.session import get_registry
from multilabel.store import RunStore

import pagetest
from app_pages._nav import PAGES

from pagetest import WAIT_S
IMG = "![px](http://evil.test/{}.png)"
LINK = "[click](http://evil.test/{})"
HOSTILE = IMG.format("q") + " " + LINK.format("q") + " :red[alarm] <img src=http://evil.test/h.png>"
# Markdown sources: text elements' bodies, and the labels of widgets (Streamlit renders those as Markdown too).
TEXT_KINDS = ("markdown", "caption", "error", "warning", "info", "success", "toast", "exception")
LABEL_KINDS = ("slider", "select_slider", "multiselect", "selectbox", "radio", "checkbox", "toggle", "text_input",
               "number_input", "text_area", "button", "metric", "expander", "download_button")


def markdown_sources(at: AppTest) -> list[tuple[str, str]]:
    found = []
    for kind in TEXT_KINDS:
        for el in at.get(kind):
            found.append((kind, str(getattr(el, "value", "") or getattr(el.proto, "body", ""))))
    for kind in LABEL_KINDS:
        for el in at.get(kind):
            found.append((kind, str(getattr(el.proto, "label", ""))))
            if kind == "radio":  # radio options are Markdown as well
                found.extend((kind, str(o)) for o in el.proto.options)
    return found


# A widget label escapes only what opens inline Markdown (widget_label: its text is also the accessible name), so
# "evil.test" may stand in it as typed: there, every such character must be escaped and every autolink broken.
LABEL_ACTIVE = re.compile(r"(?<!\\)[`*~\[\]<>$:&]|(?i:https?:|www\.)")


def label_safe(text: str) -> bool:
    return not LABEL_ACTIVE.search(text.replace("\\\\", ""))


def assert_no_markup(at: AppTest, expect_shown: int = 1) -> None:
    """No element's Markdown carries a hostile string unescaped; at least ``expect_shown`` carry it escaped."""
    assert not at.exception, [e.value for e in at.exception]
    sources = markdown_sources(at)
    raw = [(kind, text) for kind, text in sources if "evil.test" in text
           and not (kind in LABEL_KINDS and label_safe(text))]
    assert not raw, f"unescaped untrusted text reached the page: {raw}"
    shown = [(kind, text) for kind, text in sources if "evil\\.test" in text or (kind in LABEL_KINDS and
                                                                                "evil.test" in text)]
    assert len(shown) >= expect_shown, f"expected the hostile names on the page (escaped), got {sources}"


def hostile_data() -> tuple[list[str], list[str]]:
    features = [f"f{i} " + IMG.format(f"f{i}") for i in range(4)]
    labels = [f"l{j} " + LINK.format(f"l{j}") + " :red[x]" for j in range(3)]
    return features, labels


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory) -> Path:
    """A run store with a finished run whose features, labels, name and notes are hostile, and a failed run whose
    error quotes a hostile column name."""
    home = tmp_path_factory.mktemp("hostile")
    features, labels = hostile_data()
    data = make_synthetic(200, 4, 3, seed=3)
    data.feature_names, data.label_names = features, labels
    config = TrainConfig(input_size=4, hidden_size=8, num_outputs=3, epochs=4, patience=0, seed=0,
                         refit="none").validate()
    registry = get_registry(home)
    session = registry.start(config, data, name="<img src=http://evil.test/n.png> " + IMG.format("name"))
    assert session.join(timeout=WAIT_S)
    assert session.snapshot()["status"] == "completed", session.snapshot()["error"]
    store = RunStore(home)
    store.add_note(session.run_id, "note " + LINK.format("note"))
    failed = store.create_run(config.to_dict(), {"source": "csv", "name": IMG.format("file") + ".csv"},
                              name="failed " + LINK.format("failed"))
    store.fail(failed, f"feature column {IMG.format('col')!r} in 'x.csv' is not numeric (row 2: 'a')")
    store.close()
    return home


@pytest.fixture
def at_home(hostile_home, monkeypatch) -> Path:
    monkeypatch.setenv("MULTILABEL_HOME", str(hostile_home))
    return hostile_home


def run_id_of(home: Path, status: str) -> str:
    store = RunStore(home)
    try:
        return next(r["id"] for r in store.list_runs() if r["status"] == status)
    finally:
        store.close()


def hostile_frame(rows: int = 40) -> pd.DataFrame:
    features, labels = hostile_data()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, len(features))), columns=features)
    for j, label in enumerate(labels):
        frame[label] = (rng.random(rows) < 0.4).astype(int)
    return frame


def with_upload(at: AppTest, key: str, frame: pd.DataFrame, name: str) -> AppTest:
    at.session_state[key] = {"id": "upload-1", "key": f"{name}:1", "name": name, "frame": frame}
    return at


def test_train_page_hostile_url_values_and_run(at_home):
    run = run_id_of(at_home, "completed")
    at = pagetest.open_page(PAGES["Train"], hidden_size=HOSTILE, optimizer=HOSTILE, run=run)
    assert_no_markup(at, expect_shown=3)  # two URL warnings and the run's note
    assert any("hidden\\_size=" in w.value for w in at.warning), [w.value for w in at.warning]
    at = pagetest.open_page(PAGES["Train"], syn_samples="60000", epochs="30")  # not a setting a link carries: said
    said = [w.value for w in at.warning if w.value.startswith("syn\\_samples")]
    assert len(said) == 1 and "was ignored" in said[0], [w.value for w in at.warning]
    assert at.slider(key="epochs").value == 30


def test_train_page_hostile_failed_run_error(at_home):
    at = pagetest.open_page(PAGES["Train"], run=run_id_of(at_home, "failed"))
    assert_no_markup(at)
    assert any("is not numeric" in e.value for e in at.error)


def test_train_page_hostile_csv_columns(at_home):
    at = AppTest.from_file(str(pagetest.REPO / "app.py"), default_timeout=30)
    at.switch_page(PAGES["Train"])
    with_upload(at, "train_upload", hostile_frame(), IMG.format("upload") + ".csv")
    at.run()
    at.radio(key="source").set_value("Upload CSV").run()
    assert_no_markup(at)


def test_predict_page_hostile_labels_and_link(at_home):
    run = run_id_of(at_home, "completed")
    at = pagetest.open_page(PAGES["Predict"], model=HOSTILE)
    assert_no_markup(at)  # the unknown model of the link, escaped
    at = pagetest.open_page(PAGES["Predict"], model=run)
    at.selectbox(key="predict_run_select").set_value(run).run()
    assert_no_markup(at, expect_shown=4)  # the caption with the labels, and one slider per label
    # one slider per label, named as typed but for what opens Markdown (its accessible name reads "l0 \[click\]…")
    assert sum("evil.test" in s.label and label_safe(s.label) for s in at.slider) == 3


def test_runs_page_hostile_names_notes_errors(at_home):
    at = pagetest.open_page(PAGES["Runs"])
    for run in (run_id_of(at_home, "completed"), run_id_of(at_home, "failed")):
        picker = next(s for s in at.selectbox if s.label == "Run")
        picker.set_value(run).run()
        assert_no_markup(at)


def test_inspect_page_hostile_link_and_labels(at_home):
    at = pagetest.open_page(PAGES["Inspect"], run=HOSTILE)
    assert_no_markup(at, expect_shown=4)  # the unknown run of the link, and the run's three label sliders
    assert any("No run" in w.value for w in at.warning), [w.value for w in at.warning]


def test_search_page_hostile_link_and_columns(at_home):
    at = AppTest.from_file(str(pagetest.REPO / "app.py"), default_timeout=30)
    at.switch_page(PAGES["Search"])
    at.query_params["study"] = HOSTILE
    with_upload(at, "train_upload", hostile_frame(), IMG.format("upload") + ".csv")
    at.run()
    assert_no_markup(at)  # the unknown search of the link
    at.radio(key="search_source").set_value("Upload CSV").run()
    assert_no_markup(at)  # the file's caption


# -- items 6, 8 and 9 --------------------------------------------------------------------------------------------------

def test_search_page_error_names_the_file_not_the_search(at_home):
    """A bad feature column is reported in the uploaded file's name, not in the "Search name" typed below it."""
    frame = pd.DataFrame({"x": np.arange(20.0), "txt": ["a"] * 20, "y": [0, 1] * 10})
    at = AppTest.from_file(str(pagetest.REPO / "app.py"), default_timeout=30)
    at.switch_page(PAGES["Search"])
    with_upload(at, "train_upload", frame, "mydata.csv")
    at.run()
    at.radio(key="search_source").set_value("Upload CSV").run()
    at.multiselect(key="search_labels").set_value(["y"]).run()
    at.text_input(key="search_name").set_value("my-search").run()
    at.button(key="search_start").click().run()
    errors = [e.value for e in at.error]
    assert any("mydata" in e and "txt" in e for e in errors), errors
    assert not any("my-search" in e for e in errors), errors


def test_inspect_warns_on_an_unknown_or_malformed_run_link(at_home):
    for wanted in ("20990101-000000-abcdef", "../../etc/passwd", "%%%"):
        at = pagetest.open_page(PAGES["Inspect"], run=wanted)
        assert not at.exception
        assert any("No run" in w.value and "showing the newest run" in w.value for w in at.warning), wanted


def test_train_warns_when_a_link_value_is_clamped(tmp_path, monkeypatch):
    monkeypatch.setenv("MULTILABEL_HOME", str(tmp_path))
    at = pagetest.open_page(PAGES["Train"], epochs="1000000000")
    warnings = [w.value for w in at.warning]
    assert any("epochs=" in w and "2000" in w for w in warnings), warnings
    assert at.slider(key="epochs").value == 2000
    at = pagetest.open_page(PAGES["Train"], epochs="300")  # in range: no warning
    assert not any("epochs=" in w.value for w in at.warning)
