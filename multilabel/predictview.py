"""The Predict page's decisions as plain functions: which models it offers, whether a scored file carries the
model's labels, which notes it shows, how wide its table's columns are. No Streamlit here."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import numpy as np

from multilabel.errors import MultilabelError
from multilabel.words import count

if TYPE_CHECKING:
    import pandas as pd

    from multilabel.store import RunStore


def model_choices(store: "RunStore", ensemble_prefix: str) -> dict[str, dict[str, Any]]:
    """The models Predict offers, by key: runs with a checkpoint (key: the run id; newest first, as the store
    lists them), then the ensembles that searches built (key: ``ensemble_prefix`` + study).

    Each value: {"what": "run" | "ensemble", "checkpoint": path, "micro_f1": validation (runs) or CV (ensembles)
    micro-F1 or nan, "data": what it was trained on (a run's data description; a search's, with its rows)}, and for
    a run "name" and "status", for an ensemble "study", "members", "seeds", "estimated" and "micro_f1_sd". An
    ensemble's micro-F1 is the search's estimate of what it ships (the Search page's; "estimated" True), with its
    spread over the folds (None on one fold); a search from before estimates gives its best trial's ("estimated"
    False)."""
    from multilabel import jobs, searchview
    from multilabel.store import WITH_MODEL

    models: dict[str, dict[str, Any]] = {}
    for r in store.list_runs():
        if r["status"] in WITH_MODEL and r["checkpoint"]:
            models[r["id"]] = {"what": "run", "checkpoint": r["checkpoint"], "name": r["name"], "status": r["status"],
                               "data": r["data"], "micro_f1": (r["best"] or {}).get("micro_f1", float("nan"))}
    for job in jobs.list_jobs(store.home):
        if job["ensemble"]:
            result = job.get("result") or {}
            score = result.get("estimate") or result.get("best") or {}
            models[ensemble_prefix + job["study"]] = {
                "what": "ensemble", "checkpoint": job["ensemble"], "study": job["study"],
                "members": searchview.configurations(job),
                "seeds": int(job.get("seeds") or 1), "micro_f1": score.get("micro_f1", float("nan")),
                "estimated": bool(result.get("estimate")), "micro_f1_sd": score.get("micro_f1_sd"),
                "data": {**(job.get("data") or {}), "rows": job.get("rows")}}
    return models


def file_labels(frame: "pd.DataFrame", label_names: Sequence[str], name: str
                ) -> tuple[Optional[np.ndarray], Optional[str]]:
    """(Y, None) where ``frame`` carries every one of the model's label columns as valid 0/1 labels (Y: (rows,
    labels) float32), (None, why not) where they are there but not valid, (None, None) where some are missing."""
    from multilabel.data import labels_array

    if not all(c in frame.columns for c in label_names):
        return None, None
    try:
        return labels_array(frame, list(label_names), name), None
    except MultilabelError as exc:
        return None, str(exc)


def scored_fingerprint(frame: "pd.DataFrame", features: Sequence[str], truth: Optional[np.ndarray]) -> Optional[str]:
    """The fingerprint (data.rows_fingerprint) of a scored table's rows as training saw them: its ``features``
    columns in the model's order and its labels ``truth`` (file_labels'); None for a table without labels."""
    if truth is None:
        return None
    from multilabel.data import features_array, rows_fingerprint

    return rows_fingerprint(features_array(frame.rename(columns=str), list(features)), truth)


def training_rows_note(trained_on: Optional[Mapping[str, Any]], name: str, rows: int,
                       fingerprint: Optional[str]) -> Optional[str]:
    """The warning for a scored file that holds the model's own training rows (its scores are optimistic), or None.

    ``trained_on``: the model's data description (model_choices' "data"); ``name``, ``rows``, ``fingerprint``: the
    scored file's (``scored_fingerprint``). A run that stored its rows' fingerprint is told by the rows themselves,
    under any file name and in any order; others (runs from before fingerprints, search ensembles) by a CSV's file
    name (without its folder: the command line stored paths) and row count."""
    if not trained_on or trained_on.get("source") != "csv":
        return None
    trained_name = os.path.basename(str(trained_on.get("name") or ""))
    advice = ("the scores below are on rows it learned from, so they are optimistic. Score a file it has not seen "
              "(a held-out split) for an honest estimate.")
    if trained_on.get("fingerprint"):
        if fingerprint != trained_on["fingerprint"]:
            return None
        source = "" if trained_name == name else f" ('{trained_name}')"
        return f"'{name}' holds the same {count(rows, 'row')} as the data this model was trained on{source}: {advice}"
    if trained_name == name and trained_on.get("rows") == rows:
        return f"'{name}' has the name and the {count(rows, 'row')} of the data this model was trained on: {advice}"
    return None


def checkpoint_refusal(name: str) -> Optional[str]:
    """Why Predict's checkpoint uploader refuses the file ``name`` (one line), None for a .pt file."""
    if name.lower().endswith(".pt"):
        return None
    return f"'{name}' is not a checkpoint: upload a .pt file saved by multilabel (Train, Runs or the CLI save them)."


def notes_to_show(notes: Sequence[str], has_labels: bool) -> list[str]:
    """predict_frame's notes to show; a file whose label columns are compared with the predictions drops the note
    that they were left out of the result (the comparison says it)."""
    from multilabel.predict import LEFT_OUT  # loaded already: the notes come from it

    return [n for n in notes if not (has_labels and LEFT_OUT in n)]


PREDICTED = "predicted labels"
NO_LABEL = "(none)"  # a row with no label over its threshold: said, not an empty cell that reads as missing
# A data grid header's width for its text: about 7 px a character of its 14 px font and 20 px of padding (checked
# in a screenshot of emotions' labels); a column narrower than this cuts its header short.
HEADER_CHAR_PX, HEADER_PAD_PX = 7, 20


def header_px(name: str) -> int:
    return int(HEADER_CHAR_PX * len(name) + HEADER_PAD_PX + 0.5)


def predicted_column(passthrough: Sequence[str]) -> str:
    """The predicted labels' column name: PREDICTED, or with " (model)" added while a pass-through column has it."""
    name = PREDICTED
    while name in passthrough:
        name += " (model)"
    return name


def shown_frame(result: "pd.DataFrame", passthrough: Sequence[str], label_names: Sequence[str],
                prob_suffix: str) -> "pd.DataFrame":
    """The table Predict shows: the pass-through columns, one column naming each row's predicted labels (those
    whose 0/1 column in ``result`` is 1, joined by ", "; NO_LABEL for none), then each label's probability (named as
    in the download).
    One text column instead of one 0/1 column per label leaves the probability columns room for their headers."""
    import pandas as pd

    ones = result[list(label_names)].to_numpy() == 1
    names = np.asarray(label_names, dtype=object)
    predicted = pd.Series([", ".join(names[row]) if row.any() else NO_LABEL for row in ones], index=result.index,
                          name=predicted_column(passthrough))
    return pd.concat([result[list(passthrough)], predicted, result[[n + prob_suffix for n in label_names]]], axis=1)


def column_widths(passthrough: int, label_names: Sequence[str], table_px: int, pass_px: int = 100,
                  predicted_px: tuple[int, int] = (160, 360), min_prob_px: int = 90) -> tuple[int, int, list[int]]:
    """Pixel widths (pass-through column, predicted-labels column, each label's probability column) for
    ``table_px``: each probability column as wide as its header (at least ``min_prob_px``), the predicted labels
    what is left within ``predicted_px``, and any rest shared by the probability columns. Many labels make the table
    wider than ``table_px`` (it scrolls sideways) rather than cut the label names short."""
    probs = [max(min_prob_px, header_px(n)) for n in label_names]
    left = table_px - pass_px * passthrough - sum(probs)
    predicted = min(max(predicted_px[0], left), predicted_px[1])
    extra = max(0, left - predicted) // max(1, len(probs))
    return pass_px, predicted, [w + extra for w in probs]
