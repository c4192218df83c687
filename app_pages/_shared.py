"""Wiring shared by the pages: the process-wide session registry, cached model loading, safe text for Markdown."""

from __future__ import annotations

import gc
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

import streamlit as st

from multilabel import MultilabelError, TrainedModel, load_checkpoint
from multilabel.data import label_warnings, labels_array
from multilabel.charts import FigureMemo
from multilabel.session import SessionRegistry, get_registry
from multilabel.store import default_home

from app_pages._words import for_page

# Built figures shared by every session of this server process (see FigureMemo): live pages poll often, and most
# polls find no new epoch.
FIGURES = FigureMemo()
# Characters that Markdown (and Streamlit's extensions: :color[...], :material/icon:, $math$, <html>) give meaning.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&])")
# Where GFM's autolinks begin: "http:" / "https:" / "ftp:" / "mailto:" / "xmpp:", "www.", and the "@" of an address.
_AUTOLINK = re.compile(r"(?i)(?:\b(?:https?|ftp|mailto|xmpp):|\bwww\.|@)")
_reported: set[str] = set()


@st.cache_resource(show_spinner=False)
def _registry(home: str) -> SessionRegistry:
    return get_registry(home)


def registry() -> SessionRegistry:
    """The registry of live runs for this server's run store (one per home folder, shared by all tabs).

    A run store that cannot be used (a folder that is not writable, a damaged runs.db) stops the page with one
    ``st.error`` line that says how to fix it; the failure is not cached, so fixing it and reloading is enough.
    """
    home = str(default_home().resolve())
    try:
        return _registry(home)
    except MultilabelError as exc:
        if home not in _reported:  # once per server, so the terminal that started it also says what is wrong
            _reported.add(home)
            sys.stderr.write(f"multilabel: {exc}\n")
        st.error(plain(str(exc)))
        st.stop()
        raise  # st.stop() raises; this line only keeps type checkers sure nothing is returned


@st.cache_resource(show_spinner=False, max_entries=8)
def stored_model(path: str, mtime: float) -> TrainedModel:
    """A checkpoint from the run store, loaded once per file version (``mtime`` is part of the cache key)."""
    return load_checkpoint(path)


def model_from_store(path: str) -> TrainedModel:
    return stored_model(path, Path(path).stat().st_mtime)


def plain(text: object) -> str:
    """``text`` escaped so that st.markdown, st.caption, st.error and widget labels show it as typed.

    Column names, label names and file names come from users' files: a name like ``**bold**``, ``[x](http://...)``
    or ``:red[alarm]`` must not be rendered as Markdown, a link or a colored badge. Newlines become spaces.
    """
    flat = " ".join(str(text).splitlines())
    # GitHub-flavoured Markdown turns bare URLs, www. names and e-mail addresses into links after escapes are
    # resolved, so escaping cannot stop it: an invisible zero-width space breaks each pattern instead.
    flat = _AUTOLINK.sub(lambda m: m[0][:-1] + "\u200b" + m[0][-1], flat)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


# Inline Markdown in a widget label: emphasis, code, links and images, HTML, $math$, :color[...] and :icons:, entities.
_LABEL_SPECIAL = re.compile(r"[\\`*~\[\]<>$:&]|_")
_LABEL_BLOCK = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")  # what would open a heading, quote or list


def widget_label(text: object) -> str:
    """``text`` for a widget's label, shown as typed, with as few escapes as that takes: a label is also the
    widget's accessible name (a slider's aria-label), where every backslash of ``plain`` is read out
    ("amazed\\-suprised"). A ``_`` inside a word (label_0) and ``- . ( ) ! #`` inside the text open nothing."""
    flat = " ".join(str(text).splitlines())
    flat = _AUTOLINK.sub(lambda m: m[0][:-1] + "\u200b" + m[0][-1], flat)  # as in plain

    def escape(m: re.Match) -> str:
        if m[0] == "_" and 0 < m.start() < len(flat) - 1 and flat[m.start() - 1].isalnum() \
                and flat[m.start() + 1].isalnum():
            return "_"  # intraword: opens no emphasis
        return "\\" + m[0]
    flat = _LABEL_SPECIAL.sub(escape, flat)
    return _LABEL_BLOCK.sub(lambda m: m[1] + "".join("\\" + c if not c.isdigit() else c for c in m[2]), flat)


def _say(kind: str, text: object, where: Any = None) -> Any:
    return getattr(where if where is not None else st, kind)(plain(for_page(str(text))))


# The one rule for text that comes from outside the code (names and values in a URL, column and label names, file
# and checkpoint content, library messages that quote them): it reaches st.* only through plain() or these helpers,
# which show it as typed (no Markdown, links, images, colors). tests/test_untrusted_text.py renders every page with
# hostile names and URL values and checks that no markup came from them.
def error(text: object, where: Any = None) -> Any:
    """``st.error`` of a message (library wording turned into page wording by for_page), shown as typed."""
    return _say("error", text, where)


def warning(text: object, where: Any = None) -> Any:
    return _say("warning", text, where)


def caption(text: object, where: Any = None) -> Any:
    return _say("caption", text, where)


def info(text: object, where: Any = None) -> Any:
    return _say("info", text, where)


def release_upload(upload: Any) -> None:
    """Drop an uploaded file's bytes from the server once the page has parsed (and kept) its table.

    Streamlit keeps every uploaded file in the server's memory until the browser tab closes, even after a page
    change; three 150 MB uploads kept about 900 MB (benchmarks/bench_upload_rss.py). The uploader reads as empty on
    the next run, so the page says the table is kept until another file replaces it.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from multilabel.data import release_memory

    ctx = get_script_run_ctx()
    manager = getattr(ctx, "uploaded_file_mgr", None)
    if manager is not None:
        manager.remove_file(ctx.session_id, upload.file_id)
    upload.close()
    gc.collect()  # a replaced DataFrame sits in reference cycles: freed by the collector, not at once
    release_memory()


def show_label_warnings(frame: pd.DataFrame, labels: Sequence[str], name: str) -> None:
    """The same warnings for label columns chosen in an uploaded table, shown as soon as they are chosen (before
    Start). Columns that are not valid labels are left to the error shown at Start."""
    try:
        Y = labels_array(frame, list(labels), name)
    except (MultilabelError, KeyError):
        return
    for warning in label_warnings(Y, list(labels), name):
        st.warning(plain(warning))
