"""Words every front end shares, the pages and the command line alike: a count with its noun in the right number,
and a run's status as a person reads it. No Streamlit here (the CLI imports it)."""

from __future__ import annotations

from typing import Optional

# A run's stored status -> what the pages and `python -m multilabel runs` call it.
STATUS_WORDS = {"starting": "starting", "running": "running", "completed": "completed",
                "early_stopped": "stopped early", "stopped": "stopped", "failed": "failed",
                "interrupted": "interrupted"}


def status_word(status: str) -> str:
    """'early_stopped' -> 'stopped early': statuses as a person reads them."""
    return STATUS_WORDS.get(status, status.replace("_", " "))


def count(n: int, noun: str, plural: Optional[str] = None) -> str:
    """'1 label', '6 labels', '1,200 validation rows': ``n`` with thousands separators, then ``noun``, in the plural
    (``plural``, else ``noun`` + 's') unless ``n`` is 1."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def about_seconds(seconds: float) -> str:
    """'about 12 s', or 'under 1 s' (not 'about 0 s'): an expected duration."""
    return "under 1 s" if round(seconds) < 1 else f"about {round(seconds)} s"
