"""Issue 8 probes on the pages: a run store folder that cannot be written, checkpoints whose parts disagree and
CSVs in other delimiters or UTF-16 give one st.error line or just work (never a traceback box); user-supplied names
are escaped before Streamlit renders them as Markdown; data warnings are shown."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from multilabel import MultilabelError, save_checkpoint
from multilabel.store import HOME_ENV, RunStore

from app_pages import _nav
from app_pages._shared import plain, widget_label

REPO = Path(__file__).resolve().parents[1]
PAGES = [_nav.TRAIN, _nav.PREDICT, _nav.RUNS]  # page paths live in app_pages/_nav.py


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    at.switch_page(page)
    return at.run()


def store_error(home: Path) -> str:
    with pytest.raises(MultilabelError) as info:
        RunStore(home)
    return str(info.value)


@pytest.fixture(params=["under a file", "locked empty folder", "locked existing store"])
def unwritable_home(request, tmp_path, monkeypatch, lock) -> Path:
    """A MULTILABEL_HOME that refuses writes, for root too: a path below a regular file, or a folder locked with
    ``lock`` (chattr +i as root) before or after it holds a store."""
    if request.param == "under a file":
        (tmp_path / "file").write_text("not a folder")
        home = tmp_path / "file" / "home"
    elif request.param == "locked empty folder":
        home = tmp_path / "home_empty"
        home.mkdir()
        lock(home)
    else:
        home = tmp_path / "home"
        RunStore(home).close()
        lock(home / "runs.db")
        lock(home / "checkpoints")
        lock(home)
    monkeypatch.setenv(HOME_ENV, str(home))
    return home


def test_a_read_only_database_in_a_writable_folder_is_refused_at_open_not_at_the_first_epoch(tmp_path, lock):
    RunStore(tmp_path).close()
    lock(tmp_path / "runs.db")
    assert store_error(tmp_path) == (f"the run store folder '{tmp_path}' is not writable (attempt to write a readonly "
                                     "database); set MULTILABEL_HOME (or --store) to a folder you can write to")


def test_the_run_store_refuses_an_unwritable_home_with_the_fix(unwritable_home):
    message = store_error(unwritable_home)
    assert message.startswith(f"the run store folder '{unwritable_home}' is not writable (")
    assert message.endswith("set MULTILABEL_HOME (or --store) to a folder you can write to")
    assert "\n" not in message


@pytest.mark.parametrize("page", PAGES)
def test_pages_show_one_error_line_for_an_unwritable_home(unwritable_home, page):
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [plain(store_error(unwritable_home))]


# -- Markdown in user-supplied names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["**bold**", "_x_", "[link](http://example.com)", ":red[alarm]", "# heading",
                                  "`code`", "<b>html</b>", "$x^2$", "a\\b", "x-1.5", "100% | col ~~del~~",
                                  ":material/home:"])
def test_plain_escapes_every_markdown_character(name):
    escaped = plain(name)
    # Every character Markdown or Streamlit could act on is preceded by a backslash; unescaping gives the name back.
    unescaped, i = [], 0
    while i < len(escaped):
        if escaped[i] == "\\":
            i += 1
        unescaped.append(escaped[i])
        i += 1
    # plain() also puts an invisible zero-width space inside "http:", "www." and "@" (so nothing is auto-linked).
    assert "".join(unescaped).replace("\u200b", "") == name
    for ch in "*_[]()`<>$#|~:":
        assert escaped.count("\\" + ch) == name.count(ch)


def test_plain_keeps_a_name_on_one_line():
    assert plain("two\nlines") == "two lines"


@pytest.mark.parametrize("name, label", [
    ("amazed-suprised", "amazed-suprised"), ("label_0", "label_0"), ("x.y (z)!", "x.y (z)!"),  # nothing to open
    ("_x_", "\\_x\\_"), ("a*b", "a\\*b"), ("# heading", "\\# heading"), ("1. item", "1\\. item"),
    ("- x", "\\- x"), ("`code`", "\\`code\\`"), ("<b>", "\\<b\\>"), ("$x$", "\\$x\\$"), ("a\\b", "a\\\\b"),
    (":red[alarm]", "\\:red\\[alarm\\]"), ("[l](http://e.test)", "\\[l\\](http\u200b\\://e.test)"),
    ("www.e.test", "www\u200b.e.test"), ("a&amp;", "a\\&amp;"), ("~~del~~", "\\~\\~del\\~\\~"),
])
def test_a_widget_label_escapes_only_what_opens_markdown(name, label):
    # A slider's label is its accessible name: plain()'s "amazed\\-suprised" was read out backslash and all.
    assert widget_label(name) == label


# -- data warnings on the Train page ---------------------------------------------------------------------------------

def test_the_train_page_helper_warns_about_a_constant_label_column(tmp_path):
    script = tmp_path / "page.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "import pandas as pd\n"
        "from app_pages._shared import show_label_warnings\n"
        "frame = pd.DataFrame({'a': [1, 2, 3], 'y1': [0, 1, 0], 'y_*2*': [0, 0, 0]})\n"
        "show_label_warnings(frame, ['y1', 'y_*2*'], \"'up.csv'\")\n"
        "show_label_warnings(frame, ['a'], \"'up.csv'\")  # not a label column: left to the error at Start\n")
    at = AppTest.from_file(str(script), default_timeout=30).run()
    assert not at.exception
    expected = ("label column 'y_*2*' in 'up.csv' is 0 in every row: the model can only learn to answer 0 for it, "
                "and its F1 means nothing; check that it is the right column")
    assert [w.value for w in at.warning] == [plain(expected)]



# -- checkpoints whose parts disagree, CSVs the one reader accepts ---------------------------------------------------

@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("edit, fragment", [
    (lambda p: p.__setitem__("feature_names", p["feature_names"] + ["extra"]), "7 feature names for a net with 6"),
    (lambda p: p.__setitem__("std", torch.zeros_like(p["std"])), "std is 0 for feature 'x0'"),
    (lambda p: p.__setitem__("feature_names", ["x0"] * 6), "the feature name 'x0' appears twice"),
], ids=["feature names vs weights", "zero std", "duplicate feature names"])
def test_predict_page_refuses_an_inconsistent_uploaded_checkpoint_with_one_line(home, trained_small, tmp_path, edit,
                                                                               fragment):
    path = save_checkpoint(trained_small, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    edit(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    at = open_page(_nav.PREDICT)
    at.radio(key="model_source").set_value("Upload a checkpoint").run()
    at.file_uploader(key="ckpt_upload").set_value(("model.pt", buffer.getvalue(), "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and "is a damaged multilabel checkpoint" in at.error[0].value
    assert fragment in at.error[0].value
    assert "predict_csv" not in [u.key for u in at.get("file_uploader")]  # the page stopped at the model


@pytest.mark.parametrize("sep, encoding", [(";", "utf-8"), ("\t", "utf-8"), (",", "utf-16")],
                         ids=["semicolon", "tab", "utf-16"])
def test_train_page_reads_semicolon_tab_and_utf16_uploads(home, sep, encoding):
    rows = "".join(f"{i}{sep}{i * 0.5}{sep}{i % 2}{sep}{(i // 2) % 2}\n" for i in range(12))
    content = f"a{sep}b{sep}y1{sep}y2\n{rows}".encode(encoding)
    at = open_page(_nav.TRAIN)
    at.radio(key="source").set_value("Upload CSV").run()
    at.file_uploader(key="train_csv").set_value(("data.csv", content, "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (labels,) = [m for m in at.multiselect if m.label == "Label columns"]
    assert labels.value == ["y1", "y2"]
