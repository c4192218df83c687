"""The Predict page's decisions as plain functions: which models it offers, whether a scored file carries the
model's labels, which notes it shows, how wide its table's columns are. No Streamlit here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from multilabel.errors import MultilabelError

if TYPE_CHECKING:
    import pandas as pd

    from multilabel.store import RunStore


def model_choices(store: "RunStore", ensemble_prefix: str) -> dict[str, dict[str, Any]]:
    """The models Predict offers, by key: runs with a checkpoint (key: the run id; newest first, as the store
    lists them), then the ensembles that searches built (key: ``ensemble_prefix`` + study).

    Each value: {"what": "run" | "ensemble", "checkpoint": path, "micro_f1": validation (runs) or CV (ensembles)
    micro-F1 or nan}, and for a run "name", "status", "data" (its data description), for an ensemble "study",
    "members", "seeds"."""
    from multilabel import jobs
    from multilabel.store import WITH_MODEL

    models: dict[str, dict[str, Any]] = {}
    for r in store.list_runs():
        if r["status"] in WITH_MODEL and r["checkpoint"]:
            models[r["id"]] = {"what": "run", "checkpoint": r["checkpoint"], "name": r["name"], "status": r["status"],
                               "data": r["data"], "micro_f1": (r["best"] or {}).get("micro_f1", float("nan"))}
    for job in jobs.list_jobs(store.home):
        if job["ensemble"]:
            best = (job.get("result") or {}).get("best") or {}
            models[ensemble_prefix + job["study"]] = {
                "what": "ensemble", "checkpoint": job["ensemble"], "study": job["study"], "members": job["members"],
                "seeds": int(job.get("seeds") or 1), "micro_f1": best.get("micro_f1", float("nan"))}
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


def notes_to_show(notes: Sequence[str], has_labels: bool) -> list[str]:
    """predict_frame's notes to show; a file whose label columns are compared with the predictions drops the note
    that they were left out of the result (the comparison says it)."""
    return [n for n in notes if not (has_labels and n.startswith("column(s)"))]


def column_widths(passthrough: int, labels: int, table_px: int, pass_px: int = 100, label_px: int = 62,
                  min_prob_px: int = 90) -> tuple[int, int, int]:
    """Pixel widths (pass-through column, 0/1 label column, probability column) that fit ``table_px``: the narrow
    columns get fixed widths, the ``labels`` probability bars share what is left (at least ``min_prob_px``)."""
    prob_px = max(min_prob_px, (table_px - pass_px * passthrough - label_px * labels) // max(1, labels))
    return pass_px, label_px, prob_px
