"""Runs as experiments: one table row per stored run, with every TrainConfig field, its data, status and best
validation metrics, plus filtering, sorting, EMA smoothing of curves and a run's history as CSV.

Pure functions of the run store's plain dicts (``RunStore.list_runs`` / ``RunStore.history``); no Streamlit, no I/O.
The Runs page shows :func:`runs_frame`, narrows it with :func:`filter_runs`, orders it with :func:`sort_runs`, and
offers :func:`history_csv` for download. Column names are what a person reads in the table's header.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .config import knobs
from .errors import MultilabelError

# Short headers for TrainConfig fields (the form's labels are sentences, too wide for a table header). A field not
# named here (one added later) gets its name with spaces: every field is a column whatever this map says.
CONFIG_HEADERS = {
    "input_size": "inputs", "hidden_size": "hidden", "num_outputs": "outputs", "epochs": "max epochs",
    "learning_rate": "lr", "batch_size": "batch", "weight_decay": "weight decay", "dropout": "dropout",
    "device": "device", "seed": "seed", "val_fraction": "val fraction", "patience": "patience",
    "pos_weight": "pos weight", "threshold_mode": "thresholds", "cuda_graph": "cuda graph",
    "optimizer": "optimizer", "lr_schedule": "lr schedule", "eval_every": "eval every",
}
# Best validation metrics: (header, key in a run's ``best`` dict, key in an epoch record, higher is better).
METRICS = (
    ("val loss", "val_loss", "val_loss", False),
    ("val micro-F1", "micro_f1", "val_micro_f1", True),
    ("val macro-F1", "macro_f1", "val_macro_f1", True),
    ("val Hamming", "hamming_loss", "val_hamming_loss", False),
    ("val subset acc", "subset_accuracy", "val_subset_accuracy", True),
)
METRIC_COLUMNS = tuple(m[0] for m in METRICS)
HIGHER_IS_BETTER = {m[0]: m[3] for m in METRICS}
# Columns that are not hyperparameters or metrics, in table order.
RUN_COLUMNS = ("name", "status", "data", "rows", "epochs run", "best epoch")
TAIL_COLUMNS = ("duration s", "started by", "started", "notes", "continued from", "run")
ID = "run"  # the run id column: the table's key


def config_columns() -> list[tuple[str, str]]:
    """(field name, column header) for every TrainConfig field, in TrainConfig's order."""
    return [(f.name, CONFIG_HEADERS.get(f.name, f.name.replace("_", " "))) for f in knobs()]


def all_columns() -> list[str]:
    """Every column of :func:`runs_frame`, in order."""
    return [*RUN_COLUMNS, *(h for _, h in config_columns()), *METRIC_COLUMNS, *TAIL_COLUMNS]


# Shown when nobody has chosen columns: enough to tell runs apart and rank them, narrow enough for one screen.
DEFAULT_COLUMNS = ("name", "status", "data", "epochs run", "hidden", "lr", "batch", "val loss", "val micro-F1",
                   "val macro-F1")


def data_label(data: Optional[Mapping[str, Any]]) -> str:
    """What a run was trained on, in a few words: 'synthetic', or the CSV file's name."""
    data = data or {}
    name = data.get("name")  # a file's name without its folder: the command line stored the path as typed once
    return os.path.basename(str(name)) if name else str(data.get("source") or "unknown")


def _finite(value: Any) -> Optional[float]:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _has_best(run: Mapping[str, Any]) -> bool:
    """Whether the run stores its best validation metrics (a finished run does; a partial record does not count)."""
    best = run.get("best") or {}
    return any(best.get(key) is not None for _, key, _, _ in METRICS[1:])


def best_metrics(run: Mapping[str, Any], history: Sequence[Mapping[str, Any]] = ()
                 ) -> tuple[dict[str, Any], Optional[int]]:
    """({metric column: value}, epoch) of a run's best validation metrics.

    A finished run has ``best`` (the best weights at its own thresholds). A live, failed or interrupted run has
    none: its best so far is the measured epoch (one with validation metrics, at threshold 0.5) of lowest validation
    loss, the same rule the engine keeps weights by. No measured epoch: every metric None.
    """
    best = run.get("best")
    if _has_best(run):
        return {col: _finite(best.get(key)) for col, key, _, _ in METRICS}, best.get("epoch")
    measured = [r for r in history if r.get("val_micro_f1") is not None and _finite(r.get("val_loss")) is not None]
    if not measured:
        losses = [_finite(r.get("val_loss")) for r in history]
        losses = [v for v in losses if v is not None]
        return {**{col: None for col in METRIC_COLUMNS}, "val loss": min(losses) if losses else None}, None
    top = min(measured, key=lambda r: (r["val_loss"], r["epoch"]))
    return {col: _finite(top.get(rkey)) for col, _, rkey, _ in METRICS}, top["epoch"]


def runs_frame(runs: Sequence[Mapping[str, Any]],
               history_of: Optional[Callable[[str], Sequence[Mapping[str, Any]]]] = None) -> pd.DataFrame:
    """One row per run (in the order given), columns :func:`all_columns`; numbers stay numbers (NaN when absent).

    ``runs``: dicts from ``RunStore.list_runs``. ``history_of(run_id)`` gives a run's epochs; it is called only for
    runs without stored best metrics (live, failed, interrupted ones), so a store of finished runs costs no history
    reads. Statuses are the store's words ('early_stopped'); 'started' is the start time (unix seconds).
    """
    fields = config_columns()
    rows = []
    for run in runs:
        config = run.get("config") or {}
        history = history_of(run["id"]) if history_of is not None and not _has_best(run) else ()
        metrics, epoch = best_metrics(run, history)
        data = run.get("data") or {}
        notes = run.get("notes") or []
        row: dict[str, Any] = {
            "name": run.get("name") or run["id"], "status": run.get("status"), "data": data_label(data),
            "rows": data.get("rows") if isinstance(data.get("rows"), int) else None,
            # The history is read after the run's row: a live run may have logged more epochs in between.
            "epochs run": max([run.get("epochs_done") or 0, *(r["epoch"] for r in history)]), "best epoch": epoch,
        }
        row.update({header: config.get(name) for name, header in fields})
        if (run.get("info") or {}).get("batch_size"):  # the size used: batch 0 means auto, resolved at the start
            row[CONFIG_HEADERS["batch_size"]] = run["info"]["batch_size"]
        row.update(metrics)
        row.update({"duration s": run.get("duration_s"), "started by": run.get("started_by") or "",
                    "started": run.get("created_at"), "notes": " · ".join(str(n.get("text", "")) for n in notes),
                    "continued from": run.get("continued_from") or "", ID: run["id"]})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=all_columns())
    ints = ["rows", "best epoch", *(h for f, (_, h) in zip(knobs(), fields) if f.type in ("int", int))]
    floats = [*METRIC_COLUMNS, "duration s", "started", *(h for f, (_, h) in zip(knobs(), fields)
                                                           if f.type in ("float", float))]
    for column in ints:  # whole numbers stay whole; a missing one is <NA>
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    for column in floats:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["epochs run"] = frame["epochs run"].fillna(0).astype("int64")
    return frame


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns holding numbers a range filter makes sense on (not the start time, a clock reading)."""
    return [c for c in frame.columns if c not in (ID, "started") and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


@dataclass(frozen=True)
class RunFilter:
    """What narrows the table; an empty field filters nothing.

    ``statuses``/``data``: keep rows whose status / data is one of these. ``text``: case-insensitive substring of the
    name, notes or run id. ``ranges``: {numeric column: (low, high)}, inclusive; a row without a value is dropped.
    """

    statuses: tuple[str, ...] = ()
    data: tuple[str, ...] = ()
    text: str = ""
    ranges: tuple[tuple[str, float, float], ...] = ()


def filter_runs(frame: pd.DataFrame, spec: RunFilter) -> pd.DataFrame:
    """The rows of ``frame`` that pass ``spec``, in their order."""
    keep = pd.Series(True, index=frame.index)
    if spec.statuses:
        keep &= frame["status"].isin(spec.statuses)
    if spec.data:
        keep &= frame["data"].isin(spec.data)
    needle = spec.text.strip().lower()
    if needle:
        hay = (frame["name"].astype(str) + "\n" + frame["notes"].astype(str) + "\n" + frame[ID].astype(str)).str.lower()
        keep &= hay.str.contains(needle, regex=False)
    for column, low, high in spec.ranges:
        if column not in frame.columns:
            choices = ", ".join(numeric_columns(frame))
            raise MultilabelError(f"no column {column!r} to filter on; choose one of {choices}")
        values = pd.to_numeric(frame[column], errors="coerce")
        keep &= values.between(low, high).fillna(False).astype(bool)
    return frame[keep]


def sort_runs(frame: pd.DataFrame, column: str, descending: bool = False) -> pd.DataFrame:
    """``frame`` ordered by ``column``; rows without a value last either way; ties keep their order (stable)."""
    if column not in frame.columns:
        raise MultilabelError(f"no column {column!r} to sort by; choose one of {', '.join(frame.columns)}")
    key = frame[column]
    if not pd.api.types.is_numeric_dtype(key):
        key = key.astype("string").str.lower()
    return frame.assign(_key=key).sort_values("_key", ascending=not descending, na_position="last",
                                              kind="stable").drop(columns="_key")


def ema(values: Sequence[Optional[float]], weight: float) -> list[Optional[float]]:
    """TensorBoard's smoothing: a debiased exponential moving average with ``weight`` in [0, 1).

    ``smoothed[i] = last / (1 - weight**n)`` where ``last = weight * last + (1 - weight) * value`` over the n finite
    values so far, so the first point equals the first value (no pull toward 0). None or non-finite values stay None
    and do not move the average. ``weight`` 0 returns the values unchanged.
    """
    if not 0.0 <= weight < 1.0:
        raise MultilabelError(f"smoothing must be in [0, 1), got {weight}")
    out: list[Optional[float]] = []
    last, n = 0.0, 0
    for value in values:
        number = _finite(value)
        if number is None:
            out.append(None)
            continue
        last = weight * last + (1.0 - weight) * number
        n += 1
        out.append(last / (1.0 - weight ** n) if weight > 0 else number)
    return out


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        layers = value.get("layers")
        names = list(layers) if isinstance(layers, list) and all(isinstance(x, str) for x in layers) else None
        for key, sub in value.items():
            if key == "layers" and names is not None:
                continue
            if names is not None and isinstance(sub, list) and len(sub) == len(names):
                for name, item in zip(names, sub):
                    _flatten(f"{prefix}{key}/{name}", item, out)
            else:
                _flatten(f"{prefix}{key}/" if isinstance(sub, (Mapping, list)) else f"{prefix}{key}", sub, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(f"{prefix}{i}", item, out)
    else:
        out[prefix.rstrip("/")] = value


def history_frame(history: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per epoch record; nested values flattened to columns ('val_per_label/<label>/f1',
    'net/weight_norm/hidden'); columns in order of first appearance, 'epoch' first. Missing values are empty."""
    rows = []
    for record in history:
        flat: dict[str, Any] = {}
        _flatten("", dict(record), flat)
        rows.append(flat)
    columns: dict[str, None] = {"epoch": None}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return pd.DataFrame(rows, columns=list(columns))


def history_csv(history: Iterable[Mapping[str, Any]]) -> bytes:
    """A run's history as UTF-8 CSV bytes (see :func:`history_frame`); the same history gives the same bytes."""
    buffer = io.StringIO()
    history_frame(history).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def unique_labels(runs: Iterable[tuple[str, Optional[str]]]) -> dict[str, str]:
    """{run id: label for legends and pickers} from (run id, name) pairs: the run's name, with its id added where
    two runs share a name (an unnamed run is called by its id)."""
    pairs = [(rid, str(name or rid)) for rid, name in runs]
    counts: dict[str, int] = {}
    for _, name in pairs:
        counts[name] = counts.get(name, 0) + 1
    return {rid: name if counts[name] == 1 or name == rid else f"{name} ({rid})" for rid, name in pairs}


def hyperparameter_columns(frame: pd.DataFrame, varying_only: bool = True) -> list[str]:
    """The config columns (and data) whose values differ between the rows of ``frame`` (all when ``varying_only`` is
    False): the axes worth drawing in a parallel-coordinates plot."""
    candidates = ["data", *(h for _, h in config_columns())]
    if not varying_only:
        return candidates
    return [c for c in candidates if frame[c].astype("string").nunique(dropna=False) > 1]


def value_range(frame: pd.DataFrame, column: str) -> tuple[float, float]:
    """(min, max) of a numeric column over the rows that have a value, (0, 0) when none has."""
    values = pd.to_numeric(frame[column], errors="coerce").dropna()
    if values.empty:
        return 0.0, 0.0
    return float(np.min(values)), float(np.max(values))


def range_bounds(frame: pd.DataFrame, column: str) -> tuple[tuple[float, float], Optional[str]]:
    """The bounds of a range filter on ``column``: ((min, max) over the runs that have a value, whole numbers for an
    integer column), and why there is nothing to narrow (no run has a value, or all share one), else None."""
    low, high = value_range(frame, column)
    if pd.api.types.is_integer_dtype(frame[column]):
        low, high = int(low), int(high)
    if frame[column].isna().all():
        return (low, high), f"No run has {column} yet: nothing to narrow."
    if low == high:
        return (low, high), f"Every run with {column} has {number_format(column) % low}: nothing to narrow."
    return (low, high), None


# How the table prints a float column (its cells, and a range slider's ends on it): the metrics with 3 decimals,
# Hamming loss with 4 (its differences between runs sit in the fourth, as on every page), durations with 1; any other
# float column (lr, weight decay, dropout, ...) in its shortest form.
NUMBER_FORMATS = {**{c: "%.4f" if "Hamming" in c else "%.3f" for c in METRIC_COLUMNS}, "duration s": "%.1f"}


def number_format(column: str) -> str:
    """The printf format of a float column's numbers in the table (see NUMBER_FORMATS), '%g' for the others."""
    return NUMBER_FORMATS.get(column, "%g")


def range_slider(frame: pd.DataFrame, column: str, low: float, high: float) -> tuple[Optional[float], Optional[str]]:
    """(step, format) of a range slider on ``column`` from ``low`` to ``high`` (:func:`range_bounds`): its ends read
    as the table prints them (a slider's default two decimals read 0.71-0.93 over a table's 0.715-0.934), and it moves
    by the table's last decimal; (None, None) for a whole-number column (Streamlit's steps of 1)."""
    if pd.api.types.is_integer_dtype(frame[column]):
        return None, None
    fmt = number_format(column)
    if fmt == "%g":
        return (high - low) / 100, fmt
    return 10.0 ** -int(fmt[2:-1]), fmt


def clamp_range(chosen: tuple[float, float], low: float, high: float) -> tuple[float, float]:
    """A chosen (lo, hi) moved inside [low, high]: live runs move a metric's bounds under a chosen range."""
    lo, hi = chosen
    return min(max(lo, low), high), max(min(hi, high), low)


def kept_choices(chosen: Sequence[str], offered: Iterable[str]) -> list[str]:
    """The run ids of ``chosen`` that are still ``offered`` (a filter may hide runs picked before), in order."""
    offered = set(offered)
    return [i for i in chosen if i in offered]


def compared_for_filter(compared: Sequence[str], shown: Sequence[str], shown_before: Optional[Sequence[str]],
                        most: int = 3) -> list[str]:
    """The runs to compare once the filters show ``shown`` (table order; ``shown_before``: what they showed on the
    page's last run): as they were, unless the filters just changed to hide every one of them. Then the first
    ``most`` shown are compared too (a filter to 'completed' left the picker empty beside two completed runs), and
    the hidden ones come back when the filter is cleared. A picker emptied by hand stays empty."""
    if not compared or list(shown) == list(shown_before or []) or kept_choices(compared, shown):
        return list(compared)
    return compared_after_edit(compared, list(shown[:most]), shown)


def compared_after_edit(compared: Sequence[str], chosen: Sequence[str], offered: Iterable[str]) -> list[str]:
    """The runs to compare after someone edits the picker that offered ``offered``: their ``chosen``, then the runs of
    ``compared`` the picker did not offer (a filter hides them; clearing it brings them back), in their order."""
    offered = set(offered)
    return [*chosen, *(i for i in compared if i not in offered and i not in chosen)]


def metrics_epoch_words(run: Mapping[str, Any], epoch: Optional[int]) -> str:
    """Which epoch a run's shown validation metrics come from: 'best epoch 12' (a finished run's best), 'epoch 7
    so far' (a live or unfinished run's epoch of lowest validation loss), or 'none'."""
    if epoch is None:
        return "none"
    return f"best epoch {epoch}" if run["best"] else f"epoch {epoch} so far"


class RunLink:
    """A page's ``?run=<id>`` link, followed once: Runs and Inspect open the run it names, and say so for as long
    as they show something else because the link named a run that is not there (a stale or mistyped link). A page's
    first draw in a new tab is followed by a second one (its charts): a message drawn once would be gone by then.

    ``state``: where the page keeps it between runs (``st.session_state``); ``prefix``: the page's keys."""

    def __init__(self, state: Any, prefix: str) -> None:
        self.state, self.seen, self.missing = state, f"{prefix}_linked", f"{prefix}_link_missing"

    def follow(self, link: Optional[str], known: Iterable[str], arrived: bool = False) -> Optional[str]:
        """The run to select now: ``link`` when it is new (not the page's own, see :meth:`shown`) and among
        ``known``, else None (keep the picker's choice). A new link to a run not among ``known`` is kept for
        :meth:`missing_run`; ``arrived`` (the page comes on screen: a link, the sidebar) forgets an older one."""
        if arrived:
            self.state.pop(self.missing, None)
        if not link or link == self.state.get(self.seen):
            return None
        self.state[self.seen] = link
        if link in set(known):
            self.state.pop(self.missing, None)
            return link
        self.state[self.missing] = link
        return None

    def missing_run(self) -> Optional[str]:
        """The run a link named that the page could not open, while the page shows what it showed instead."""
        return self.state.get(self.missing)

    def shown(self, run_id: str) -> None:
        """The page shows ``run_id`` and writes it into its URL: that link is the page's own, not a new one."""
        self.state[self.seen] = run_id

    def picked(self) -> None:
        """Someone picked a run: the page no longer shows a stand-in for the link's missing run."""
        self.state.pop(self.missing, None)
