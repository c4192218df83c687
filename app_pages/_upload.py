"""The upload-and-labels widget that Train, Search and Predict share: a CSV or Parquet uploader, the table parsed once
per file, and the label-column choice.

Train and Search keep the parsed table in st.session_state and drop the file's bytes from the server (see
_shared.release_upload): the uploader itself forgets its file on the next run or page change, the kept table does
not, so the page says the table is kept until another file replaces it.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import pandas as pd
import streamlit as st

from multilabel import MultilabelError, guess_label_columns, read_csv
from multilabel.data import no_label_guess_words
from multilabel.words import count
from app_pages._keys import TRAIN_UPLOAD
from app_pages._shared import error, plain, release_upload, show_label_warnings

TYPES = ["csv", "parquet"]
TABLE_LABEL = "CSV with a header row (or Parquet); features numeric, labels 0/1"
LABELS_HELP = "each chosen column is one yes/no label; all other columns are features"

# (kept table, its column names, the guessed label columns) -> the chosen label columns; draws the widget
LabelPicker = Callable[[dict[str, Any], list[str], list[str]], list[str]]


def file(label: str, key: str) -> Any:
    """The uploader for a table (CSV or Parquet); the UploadedFile, or None."""
    return st.file_uploader(label, type=TYPES, key=key)


def read(upload: Any) -> pd.DataFrame:
    """The uploaded file's table; MultilabelError (one line, naming the file) when it cannot be read."""
    return read_csv(upload, f"'{upload.name}'")


def kept_table(uploader_key: str, kept_key: str, label: str = TABLE_LABEL) -> tuple[Optional[dict[str, Any]], bool]:
    """The uploader, and the table of the newest file uploaded with it: ({"id", "key", "name", "frame"} or None,
    whether the uploader holds it now). A new file is parsed once and kept under ``st.session_state[kept_key]``; a
    file that cannot be read says why and keeps nothing."""
    upload = file(label, uploader_key)
    kept = st.session_state.get(kept_key)
    if upload is not None and (kept is None or kept["id"] != upload.file_id):
        # The table of an earlier upload goes first: Streamlit keeps the previous run's value of a key until a
        # later run, so an overwritten one would stay in memory beside the new one.
        st.session_state.pop(kept_key, None)
        kept = None
        try:
            kept = {"id": upload.file_id, "key": f"{upload.name}:{upload.size}", "name": upload.name,
                    "frame": read(upload)}
        except MultilabelError as exc:
            error(exc)
        else:
            release_upload(upload)  # parsed and kept: the file's bytes need not stay in the server's memory
        st.session_state[kept_key] = kept
    return kept, upload is not None


def session_label_picker(key: str) -> LabelPicker:
    """A label-column multiselect whose choice lives in ``st.session_state[key]``, reset to the guessed columns
    for each new table."""

    def pick(kept: dict[str, Any], columns: list[str], guessed: list[str]) -> list[str]:
        if st.session_state.get(key + "_file") != kept["id"]:
            st.session_state[key + "_file"] = kept["id"]
            st.session_state[key] = [c for c in guessed if c in columns]
        return st.multiselect("Label columns", columns, key=key, help=LABELS_HELP, wrap=True)

    return pick


def upload_and_labels(uploader_key: str, kept_key: str, pick_labels: LabelPicker, *, train_upload: bool = False,
                      preview: bool = False, say_earlier: bool = False) -> tuple[Optional[dict[str, Any]], list[str]]:
    """Uploader, the kept table's size (and first rows with ``preview``), and its label columns; (kept table or
    None, chosen labels). ``train_upload``: the table kept on the Train page is used until a file is uploaded here.
    ``say_earlier``: the size line says the table is kept until another file replaces it (on every run: the browser
    may still show the file in the uploader after the server let its bytes go, so "uploaded earlier" on a later run
    of the same page contradicted it)."""
    kept, _ = kept_table(uploader_key, kept_key)
    if kept is None and train_upload and st.session_state.get(TRAIN_UPLOAD) is not None:
        kept = st.session_state[TRAIN_UPLOAD]
        st.caption("Using the CSV uploaded on the Train page; upload another file to replace it.")
    if kept is None:
        return None, []
    frame, name = kept["frame"], kept["name"]
    earlier = " (kept until you upload another file)" if say_earlier else ""
    st.caption(f"{plain(name)}: {count(len(frame), 'row')} × {count(len(frame.columns), 'column')}{earlier}")
    if preview:
        # Rows numbered as messages number them ("the value 2 at row 4"): as a spreadsheet does, the header is row 1.
        head = frame.head(5).set_axis(range(2, 2 + min(5, len(frame))), axis=0)
        st.dataframe(head, placeholder="(missing)",  # not "None" for an empty cell
                     column_config={"_index": st.column_config.NumberColumn("row", width=40)})
    columns = [str(c) for c in frame.columns]
    labels = pick_labels(kept, columns, guess_label_columns(frame))
    if labels:  # e.g. a label column that is 0 in every row
        show_label_warnings(frame, labels, f"'{name}'")
    elif (why := no_label_guess_words(frame)) is not None:  # an empty picker, and why it was not filled
        st.info(plain(why))
    return kept, labels


def say_data_problem(kept: dict[str, Any], labels: list[str], key: str) -> None:
    """Under a chosen table and its labels: what Start would refuse in them (a text feature column, a label that is
    not 0/1), at once instead of after Start; checked once per file and label choice (``key``: the page's)."""
    from multilabel.trainview import DataChoice

    checked = (kept["key"], tuple(labels))
    if st.session_state.get(key, (None,))[0] != checked:
        choice = DataChoice("csv", 1, 1, frame=kept["frame"], labels=list(labels), name=kept["name"])
        st.session_state[key] = (checked, choice.problem())
    if st.session_state[key][1]:
        error(st.session_state[key][1])
