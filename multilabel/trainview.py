"""The Train page's decisions as plain functions: the data its form describes, the numbers its status line shows,
when its live view redraws, which queue items it lists. The page only lays these out; no Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from multilabel.errors import MultilabelError

if TYPE_CHECKING:
    import pandas as pd

    from multilabel.config import TrainConfig
    from multilabel.data import Dataset
    from multilabel.session import RunView
    from multilabel.store import RunStore

# A run that ended this way can go on for more epochs (Continue training), given its resume state.
CONTINUABLE = ("completed", "early_stopped", "stopped")
PLACEHOLDER_FILE = "YOUR_FILE.csv"  # the command line's --data for a CSV the dashboard holds no path of
PLACEHOLDER_LABELS = "LABEL_COLUMNS"


@dataclass
class DataChoice:
    """The data the Train form describes: synthetic (``rows``, ``noise``, ``input_size`` features, ``num_outputs``
    labels) or an uploaded table (``frame``, the chosen ``labels``, the file's ``name``; ``frame`` is None until a
    file is uploaded, and the sizes are the form's, used where the table does not give them yet)."""

    source: str  # "synthetic" | "csv"
    input_size: int = 10
    num_outputs: int = 5
    rows: int = 2000
    noise: float = 0.1
    frame: Optional["pd.DataFrame"] = None
    labels: Sequence[str] = field(default_factory=list)
    name: Optional[str] = None

    def build(self, config_for: Callable[[int, int], "TrainConfig"]) -> tuple["Dataset", "TrainConfig"]:
        """(Dataset, TrainConfig) to train on; ``config_for(input_size, num_outputs)`` is the form's validated
        config for data of that shape. MultilabelError (one line) while the choice is not complete."""
        from multilabel.data import dataset_from_frame, make_synthetic

        if self.source == "synthetic":
            config = config_for(self.input_size, self.num_outputs)
            data = make_synthetic(int(self.rows), config.input_size, config.num_outputs, noise=float(self.noise),
                                  seed=config.seed)
            return data, config
        if self.frame is None:
            raise MultilabelError("upload a CSV first, or choose synthetic data")
        if not self.labels:
            raise MultilabelError("choose at least one label column")
        data = dataset_from_frame(self.frame, list(self.labels), f"'{self.name}'")
        return data, config_for(data.X.shape[1], data.Y.shape[1])

    def problem(self) -> Optional[str]:
        """What Start would refuse in the chosen table (a text feature column, labels that are not 0/1, fewer than 2
        rows...), in one line, or None: said when the file and its labels are chosen, not after Start. None for
        synthetic data and for a choice that is not complete yet (build says what is missing)."""
        from multilabel.data import dataset_from_frame
        from multilabel.engine import check_rows

        if self.source != "csv" or self.frame is None or not self.labels:
            return None
        try:
            check_rows(dataset_from_frame(self.frame, list(self.labels), f"'{self.name}'"))  # e.g. one data row
        except MultilabelError as exc:
            return str(exc)
        return None

    def shape(self) -> tuple[int, int]:
        """(input size, number of outputs) for the command line, also before the choice is complete: a table's
        feature and label counts, the form's sizes where there are none yet (never below 1)."""
        if self.source == "synthetic":
            return self.input_size, self.num_outputs
        features = len(self.frame.columns) - len(self.labels) if self.frame is not None else self.input_size
        return max(1, features), max(1, len(self.labels) or self.num_outputs)

    def description(self) -> dict[str, Any]:
        """The data description the command line is built from (jobs.train_command's ``data``): placeholders name
        what the dashboard does not know (the file's path, label columns not chosen yet)."""
        if self.source == "synthetic":
            return {"source": "synthetic", "rows": int(self.rows), "noise": float(self.noise)}
        return {"source": "csv", "name": self.file_name, "labels": list(self.labels) or [PLACEHOLDER_LABELS]}

    @property
    def file_name(self) -> str:
        """The uploaded file's name, or a placeholder for it."""
        return self.name or PLACEHOLDER_FILE


# The synthetic generator's settings as the Train form offers them, and the keys its link carries them under (the
# command line's flags: --samples, --noise), beside the source ("csv": Upload CSV; the file itself cannot travel).
SAMPLES_RANGE = (50, 2_000_000)
NOISE_RANGE = (0.0, 2.0)
NOISE_STEP = 0.05
SAMPLES_HELP = "rows of synthetic data, labelled by a hidden teacher net"  # each page says what it does with them
NOISE_HELP = "noise added to the hidden teacher's logits before thresholding; 0 = learnable exactly"
DATA_QUERY_DEFAULTS = {"source": "synthetic", "samples": 2000, "noise": 0.1}
SOURCES = ("synthetic", "csv")


def data_to_query(source: str, rows: int, noise: float) -> dict[str, str]:
    """The data settings that differ from the form's defaults, as a link's query parameters (``source``: "synthetic"
    or "csv"; data_from_query reads them back)."""
    given = {"source": source, "samples": int(rows), "noise": float(noise)}
    return {key: f"{value:g}" if key == "noise" else str(value) for key, value in given.items()
            if value != DATA_QUERY_DEFAULTS[key]}


_DATA_RULES = {"source": "it must be synthetic or csv",
               "samples": (f"the number of samples must be a whole number from {SAMPLES_RANGE[0]:,} to "
                           f"{SAMPLES_RANGE[1]:,}"),
               "noise": f"label noise must be a number from {NOISE_RANGE[0]:g} to {NOISE_RANGE[1]:g}"}


def _data_value(key: str, text: str) -> Any:
    """``text`` as the value of data setting ``key`` that the form can hold, or None."""
    try:
        if key == "source":
            return text if text in SOURCES else None
        if key == "samples":
            rows = int(text)
            return rows if SAMPLES_RANGE[0] <= rows <= SAMPLES_RANGE[1] else None
        noise = float(text)
    except ValueError:
        return None
    if not NOISE_RANGE[0] <= noise <= NOISE_RANGE[1]:  # NaN is not either
        return None
    return round(round(noise / NOISE_STEP) * NOISE_STEP, 10)  # onto the slider's steps, as a knob's value is


def close_key(key: str, keys: Sequence[str]) -> Optional[str]:
    """The key of ``keys`` a link most likely meant by ``key`` (``lr`` or ``--lr`` -> ``learning_rate``,
    ``hidden-size`` -> ``hidden_size``, ``epoch`` -> ``epochs``), or None: the command line's flag, the initials
    of its words, its start, or a near spelling."""
    import difflib

    from multilabel.jobs import config_flag

    wanted = key.strip().lower().lstrip("-").replace("-", "_")
    if not wanted:
        return None
    for found in (
            [k for k in keys if k == wanted],
            [k for k in keys if config_flag(k).lstrip("-").replace("-", "_") == wanted],
            [k for k in keys if "_" in k and "".join(w[0] for w in k.split("_")) == wanted],
            [k for k in keys if len(wanted) >= 3 and k.startswith(wanted)],
            difflib.get_close_matches(wanted, list(keys), n=1, cutoff=0.75)):
        if len(found) == 1:
            return found[0]
    return None


def unknown_key_line(key: str, text: str, labels: Mapping[str, str]) -> str:
    """One line for a link's ``key=text`` that the page does not read (``labels``: the keys it reads -> what each
    sets), naming the key it most likely meant."""
    close = close_key(key, list(labels))
    hint = (f"did you mean {close}= ({labels[close]})?" if close else
            "those are the data and training settings, as a reload's link shows them")
    return f"{key}={text!r} in the link was ignored: it is not a setting a link can carry; {hint}"


def data_from_query(params: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The data settings in a link's query parameters: ({"source", "samples", "noise"}: those given and valid, one
    line for each value left out, saying why)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, rule in _DATA_RULES.items():
        if key in params:
            value = _data_value(key, params[key])
            if value is None:
                problems.append(f"{key}={params[key]!r} in the link was ignored ({rule})")
            else:
                values[key] = value
    return values, problems


def continue_data(described: Optional[Mapping[str, Any]], upload: Optional[Mapping[str, Any]]) -> Optional["Dataset"]:
    """The Dataset a Continue of a run needs: None for synthetic data (the run regenerates it from its seed); for
    a CSV run, ``upload`` ({"frame", "name"}: the table uploaded in this session) with the run's label columns.
    MultilabelError when a CSV run's table is not uploaded (the dashboard keeps no uploaded files)."""
    described = described or {}
    if described.get("source") != "csv":
        return None
    if upload is None:
        raise MultilabelError(f"upload '{described.get('name', 'the CSV')}' again (Source: Upload CSV) to continue "
                              "this run: the dashboard does not keep uploaded files")
    from multilabel.data import dataset_from_frame

    return dataset_from_frame(upload["frame"], described.get("labels", []), f"'{upload['name']}'")


def can_continue(view: "RunView") -> bool:
    """True where 'Continue training' applies: an ended run (completed, stopped) that saved its resume state."""
    return not view.alive and "resumable" in view.info and view.status in CONTINUABLE


def more_epochs_default(view: "RunView", parent_info: Optional[Mapping[str, Any]] = None) -> int:
    """What 'More epochs' offers for ``view``'s run: a run that ended before its planned epochs (stopped, stopped
    early), the rest of them; one that ran them all, as many as it planned itself, so a second Continue adds what
    the first added. A continued run's total includes its parent's epochs (``parent_info``: the parent's info,
    whose ``resumable`` is the epoch it was continued from), which would double the run each time."""
    total = int(view.config.get("epochs", 10))
    done = int(view.info.get("resumable") or total)
    if done < total:
        return total - done
    carried = int((parent_info or {}).get("resumable") or 0) if view.continued_from else 0
    return max(1, total - carried)


def eta_s(history: Sequence[Mapping[str, Any]], epochs: int) -> float:
    """Seconds until epoch ``epochs`` at the run's average pace so far (0.0 before the first epoch)."""
    if not history:
        return 0.0
    last = history[-1]["epoch"]
    return sum(r["duration_s"] for r in history) / last * (epochs - last) if last else 0.0


def samples_per_s(history: Sequence[Mapping[str, Any]], alive: bool) -> Optional[float]:
    """The samples/s a run's progress line shows: while it trains, its last whole epoch's (the pace now); once it
    has ended, its mean over its whole epochs (rows trained / seconds taken). The last epoch alone misled: one cut
    short by Stop (``partial``) spends a whole validation pass on a fraction of the rows (16,952 after 112,630), and
    any one short epoch swings with the machine's load. None before the first whole epoch."""
    whole = [r for r in history if not r.get("partial") and r.get("samples_per_s") and r.get("duration_s")]
    if not whole:
        return None
    if alive:
        return float(whole[-1]["samples_per_s"])
    return sum(r["samples_per_s"] * r["duration_s"] for r in whole) / sum(r["duration_s"] for r in whole)


def refit_eta_range(view: "RunView") -> Optional[tuple[float, float]]:
    """Seconds the refit on all rows (refit "all") should take after the epochs, as (at the best epoch so far, at
    the last epoch): the refit trains as many epochs as the best one, which can only move later, up to the run's
    epochs. None for a live run that has started it already, where there is no refit to come, or no whole epoch to
    measure its pace by."""
    info, history = view.info, view.history
    if not (view.alive and history and view.config.get("refit") == "all" and not info.get("refitting")
            and info.get("n_train")):
        return None
    from multilabel.refit import refit_expected_s

    rows = info["n_train"] + info.get("n_val", 0)
    low = refit_expected_s(history, rows, max(history[-1]["best_epoch"], 1))
    high = refit_expected_s(history, rows, max(view.epochs, history[-1]["best_epoch"], 1))
    return None if low is None or high is None else (low, high)


def first_epoch_fraction(view: "RunView") -> float:
    """How far a live run is through its first epoch (0.0 to 1.0), from its in-epoch progress."""
    progress = view.progress or {}
    return progress.get("step", 0) / progress["steps"] if progress.get("steps") else 0.0


def poll_s(live: bool, live_runs: int, waiting: bool, every_s: float, max_s: float, first_s: float) -> Optional[float]:
    """How often the live view of a run redraws: None for a run that is not live; ``first_s`` until a new run
    reports its first epoch (``waiting``); else ``every_s`` per run training at once, at most ``max_s``."""
    if not live:
        return None
    if waiting:
        return first_s
    return min(max_s, every_s * max(1, live_runs))


LABELS_POLL_FACTOR = 4  # the per-label charts redraw every 4th poll of the curves


def labels_poll_s(poll: Optional[float], held: bool = False) -> Optional[float]:
    """How often a live run's per-label charts redraw, given the curves' cadence ``poll`` (None: not live).

    They are most of what a watching browser draws on each poll (benchmarks/README.md, "What a watching browser
    draws") and change less from one epoch to the next than the curves do. A run paused or pausing (``held``) is
    looked at closely: its charts follow at the curves' cadence, so they reach the paused epoch with them (an
    unchanged figure costs the browser nothing)."""
    if poll is None:
        return None
    return poll if held else poll * LABELS_POLL_FACTOR


def page_outdated(view: "RunView", was_live: bool, waiting: bool, held: bool) -> bool:
    """True where a poll finds the run changed what the whole page shows (not only the live view): it ended, its
    first epoch came, or it was paused or resumed (the Pause/Resume button)."""
    return ((was_live and not view.alive) or (waiting and bool(view.history))
            or (was_live and (view.paused or view.pausing) != held))


def queue_position(queued: Sequence[Mapping[str, Any]], item_id: int, training: bool = True) -> Optional[int]:
    """1-based place of queue item ``item_id`` among ``queued``; None once it has left the queue (started), and
    when it starts now: first in line while no run trains (``training`` False), the registry starts it at once."""
    ids = [q["id"] for q in queued]
    if item_id not in ids or (ids[0] == item_id and not training):
        return None
    return ids.index(item_id) + 1


def queue_busy(waiting: Sequence[Mapping[str, Any]], started: Sequence[Mapping[str, Any]],
               live_ids: Sequence[str]) -> bool:
    """Whether the Train page's queue box has something to follow: items waiting, or a run it started (``started``:
    started_from_queue's) still training. Its lines say each run's status, which went stale once the queue emptied."""
    live = set(live_ids)
    return bool(waiting) or any(q.get("run_id") in live for q in started)


def queue_line_done(item: Mapping[str, Any]) -> bool:
    """Whether a started-from-queue line (``started_from_queue``'s item) may be dismissed: its run has ended, was
    deleted, or never started; not while the run starts or trains."""
    return item.get("run_status") not in ("starting", "running")


def started_from_queue(store: "RunStore", started_by: str, last: int = 3) -> list[dict[str, Any]]:
    """The newest ``last`` queue items that ``started_by`` added and that have left the queue (started or failed
    to start), oldest first, each with "run_status": its run's status now (None where it did not start or its run
    was deleted), so a line about it does not read as stale once the run has ended."""
    items = [q for q in store.queue(("started", "failed")) if q["started_by"] == started_by][-last:]
    for q in items:
        try:
            q["run_status"] = store.get_run(q["run_id"])["status"] if q["run_id"] else None
        except MultilabelError:
            q["run_status"] = None
    return items
