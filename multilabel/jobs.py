"""Background processes: who owns a run (liveness), the ``python -m multilabel train|search`` command lines, and
the searches the dashboard starts, finds again and stops.

A process is named by a token ``'pid:create-time'`` (psutil), so a pid the system reuses is not mistaken for the
process that had it. A page starts a search with ``launch``: a ``search`` process plus a small job file next to its
CSV and log, ``<home>/search/<study>.job.json``, naming the process, the storage, the checkpoint path and the budget.
Any later page run, in any tab or after a server restart, finds the search again with ``find_job``/``list_jobs`` and
stops it with ``stop_job``: nothing lives only in the server's memory.

Imports stay light (no torch, optuna or pandas at import time): the run store and ``python -m multilabel runs``
use the liveness part.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import psutil

from .config import TrainConfig, changed_knobs
from .errors import MultilabelError
from .paths import atomic_write

if TYPE_CHECKING:
    from .data import Dataset

# ---- liveness -------------------------------------------------------------------------------------------------------


def process_token(pid: int) -> str:
    """``'pid:create-time'`` of a running process (``'pid:?'`` where the start time cannot be read)."""
    try:
        return _token(psutil.Process(pid))
    except (psutil.Error, ValueError):
        return f"{pid}:?"


def _token(process: psutil.Process) -> str:
    return f"{process.pid}:{process.create_time():.2f}"


def owner_pid(owner: Optional[str]) -> Optional[int]:
    """The pid in an owner token ``'pid:create-time'``, or None."""
    try:
        return int(owner.split(":", 1)[0]) if owner else None
    except ValueError:
        return None


START_TOLERANCE_S = 1.5


def owner_alive(owner: Optional[str]) -> bool:
    """Whether the process an owner token names still runs: same pid and start time, and not a zombie (exited but
    not reaped: an orphaned worker whose new parent never reaps it)."""
    pid = owner_pid(owner)
    if pid is None or pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return _same_start(process, owner.split(":", 1)[1])  # type: ignore[union-attr]
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process with that pid exists
        return True


def _same_start(process: psutil.Process, stamp: str) -> bool:
    if stamp == "?":
        return True
    if stamp.isdigit():  # a token from before psutil: the start in clock ticks after boot (/proc/<pid>/stat)
        ticks = (process.create_time() - psutil.boot_time()) * os.sysconf("SC_CLK_TCK")
        return abs(ticks - int(stamp)) <= 2  # both sides are rounded
    # psutil derives a start time from the boot time, which it reads again each time and which moves when the clock
    # is stepped: a second's tolerance keeps a live owner alive, and a reused pid starts later than that.
    try:
        return abs(process.create_time() - float(stamp)) <= START_TOLERANCE_S
    except ValueError:
        return False


def child_pids(pid: int) -> list[int]:
    """The pids of the processes whose parent is ``pid`` (empty when it has none or is gone)."""
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def interrupt(pid: int) -> bool:
    """SIGINT to ``pid`` and then to its children, as Ctrl-C in a terminal reaches the whole foreground group.
    Returns whether ``pid`` got it."""
    try:
        process = psutil.Process(pid)
        children = process.children()
        process.send_signal(signal.SIGINT)
    except psutil.Error:
        return False
    for child in children:
        try:
            child.send_signal(signal.SIGINT)
        except psutil.Error:
            pass
    return True


# ---- command lines: the one place that spells the CLI's flags for another process ------------------------------------

# Flag spellings that differ from the field name; every other TrainConfig field becomes --field-name.
FLAG_NAMES = {"learning_rate": "--lr"}
# Fields that come from the data when training on a CSV.
DATA_SHAPED = ("input_size", "num_outputs")
_CHILDREN: dict[int, subprocess.Popen] = {}  # processes this process started: polled so they do not stay zombies


def config_flag(name: str) -> str:
    """The CLI flag of the TrainConfig field ``name`` (``learning_rate`` -> ``--lr``, ``hidden_size`` ->
    ``--hidden-size``)."""
    return FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def train_command(config: TrainConfig, data: dict[str, Any], store: str | os.PathLike | None = None) -> str:
    """The ``python -m multilabel train ...`` line that trains ``config`` on the data ``data`` describes.

    ``data``: a run's data description (Dataset.description): synthetic (rows, noise, seed) or a CSV (name, labels).
    Only settings that differ from the defaults are spelled out; input and output sizes come from a CSV itself.
    ``store``: a run store folder to name with ``--store`` (so the run shows in the dashboard using it).
    """
    words = ["python", "-m", "multilabel", "train"]
    if store is not None:
        words += ["--store", os.fspath(store)]
    if data.get("source") == "csv":
        file = data.get("path") or data.get("name", "data.csv")  # a command-line run's path, an upload's name
        words += ["--data", str(file), "--labels", ",".join(data.get("labels", []))]
    else:
        words += ["--synthetic", "--samples", str(data.get("rows", 2000)), "--noise", f"{data.get('noise', 0.1):g}"]
        for name in DATA_SHAPED:
            words += [config_flag(name), str(getattr(config, name))]
    for name, value in changed_knobs(config).items():
        if name not in DATA_SHAPED:
            words += [config_flag(name), f"{value:g}" if isinstance(value, float) else str(value)]
    return " ".join(shlex.quote(w) for w in words)


def search_argv(data_csv: str | os.PathLike, labels: str | Sequence[str], storage: str, study: str, *,
                trials: int | None = None, timeout: float | None = None, folds: int | None = None,
                jobs: int | None = None, members: int | None = None, seeds: int | None = None,
                epochs: int | None = None, objective: str | None = None, seed: int | None = None,
                out: str | os.PathLike | None = None, progress: str | os.PathLike | None = None,
                quiet: bool = True) -> list[str]:
    """The argv of a ``python -m multilabel search`` process (this interpreter); options left None are left out,
    so the parser's defaults apply. ``labels``: a label spec or a list of label names."""
    argv = [sys.executable, "-m", "multilabel", "search", "--data", os.fspath(data_csv), "--labels",
            labels if isinstance(labels, str) else ",".join(labels), "--storage", storage, "--study", study]
    for flag, value in (("--trials", trials), ("--timeout", timeout), ("--folds", folds), ("--jobs", jobs),
                        ("--members", members), ("--seeds", seeds), ("--epochs", epochs),
                        ("--objective", objective), ("--seed", seed), ("--out", out), ("--progress", progress)):
        if value is not None:
            argv += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return argv + (["--quiet"] if quiet else [])


def search_env(jobs: int) -> dict[str, str]:
    """The environment of a search worker: with ``jobs`` workers on this machine, each gets an equal share of the
    cores as torch threads (OMP_NUM_THREADS), unless the caller already set one: workers with a thread per core each
    spin against each other (benchmarks/README.md, "Measurements moved out of code comments")."""
    env = dict(os.environ)
    if jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


def start(argv: Sequence[str], log: Path | None = None, append: bool = False,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``argv`` in a fresh process (spawned: nothing forked from a process running torch); its stdout and
    stderr go to ``log`` (appended to with ``append``), else stdout is dropped and stderr is this process's."""
    if log is None:
        process = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, env=env)
    else:
        with open(log, "a" if append else "w") as fh:
            process = subprocess.Popen(list(argv), stdout=fh, stderr=subprocess.STDOUT, env=env)
    _CHILDREN[process.pid] = process
    return process


def split_trials(trials: int | None, jobs: int) -> list[Optional[int]]:
    """Each of ``jobs`` workers' share of ``trials`` (None: no limit, time only), the first worker's first."""
    if trials is None:
        return [None] * jobs
    return [trials // jobs + (i < trials % jobs) for i in range(jobs)]


def start_search_helpers(data_csv: str, labels: str, storage: str, study: str, shares: Sequence[Optional[int]],
                         jobs: int, folds: int, timeout: float | None = None, epochs: int | None = None,
                         objective: str | None = None, seed: int | None = None) -> list[subprocess.Popen]:
    """``search --jobs J``: the J-1 more ``search`` processes on the same study (no ensemble of their own), one per
    share of ``shares`` that is not 0; helper i samples with ``seed + 1 + i``."""
    helpers = []
    for i, share in enumerate(shares):
        if share == 0:
            continue
        argv = search_argv(data_csv, labels, storage, study, trials=share, timeout=timeout, folds=folds, members=0,
                           epochs=epochs, objective=objective, seed=seed + 1 + i if seed is not None else None)
        helpers.append(start(argv, env=search_env(jobs)))
    return helpers


# ---- background searches (the Search page) ---------------------------------------------------------------------------

JOB_SUFFIX = ".job.json"


@dataclass
class BackgroundSearch:
    """A ``python -m multilabel search`` process started by ``start_background`` (for pages: survives reruns)."""

    process: subprocess.Popen
    storage: str
    study: str
    data_csv: Path
    out: Optional[Path]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Like Ctrl-C: the running trial ends at its next epoch, finished trials stay, the ensemble is still built."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)

    def result(self) -> Optional[dict[str, Any]]:
        """The search's final JSON line once it has ended, else None."""
        if self.alive():
            return None
        return _last_json_line(self.log)


def _last_json_line(log: Path) -> Optional[dict[str, Any]]:
    try:
        lines = [line for line in Path(log).read_text().splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def search_folder(home: str | os.PathLike | None = None) -> Path:
    """``<home>/search``: the background searches' CSVs, logs, job files and ensemble checkpoints."""
    from .store import default_home
    return (Path(home) if home is not None else default_home()) / "search"


def start_background(data: Dataset, study: str, home: str | os.PathLike | None = None, storage: str | None = None,
                     trials: int | None = None, timeout: float | None = None, folds: int = 3, jobs: int = 1,
                     members: int = 5, out: str | os.PathLike | None = None,
                     epochs: int | None = None, seeds: int | None = None) -> BackgroundSearch:
    """Start a search in a fresh process on ``data``.

    The data is written to ``<home>/search/<study>.csv``; the process's stdout (the final JSON line) goes to
    ``<home>/search/<study>.log``. Read progress with ``search.study_summary(storage, study)``; stop with
    ``.stop()``.
    """
    import numpy as np
    import pandas as pd

    from .search import default_storage
    folder = search_folder(home)
    folder.mkdir(parents=True, exist_ok=True)
    url = storage or default_storage(home)
    csv_path = folder / f"{study}.csv"
    frame = {name: data.X[:, i] for i, name in enumerate(data.feature_names)}
    frame.update({name: data.Y[:, j].astype(np.int8) for j, name in enumerate(data.label_names)})
    pd.DataFrame(frame).to_csv(csv_path, index=False)
    log = folder / f"{study}.log"
    (folder / progress_name(study)).unlink(missing_ok=True)
    argv = search_argv(csv_path, data.label_names, url, study, trials=trials, timeout=timeout, folds=folds, jobs=jobs,
                       members=members, out=out, epochs=epochs, seeds=seeds, progress=folder / progress_name(study))
    process = start(argv, log=log)
    return BackgroundSearch(process=process, storage=url, study=study, data_csv=csv_path,
                            out=Path(out) if out is not None else None, log=log)


def progress_name(study: str) -> str:
    """The file name of a background search's refit progress (``progress.RefitProgress``), beside its log."""
    return f"{study}.refit.json"


def refit_progress(job: dict[str, Any]) -> Optional[dict[str, int]]:
    """The counts of ``job``'s ensemble refit as its process last wrote them (``search.refit_progress``), or None
    before its refit has begun (or for a search started before the file existed)."""
    try:
        counts = json.loads((Path(job["log"]).parent / progress_name(job["study"])).read_text())
        return counts if isinstance(counts, dict) and {"epochs_done", "epochs"} <= counts.keys() else None
    except (OSError, ValueError, KeyError):
        return None


def check_study_name(name: str) -> str:
    """``name`` stripped, or MultilabelError: a study name becomes a file name, so letters, digits, ``-_.`` only."""
    import re
    name = str(name).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise MultilabelError(f"study name {name!r} is not usable; use 1-64 letters, digits, '-', '_' or '.', "
                              "starting with a letter or digit")
    return name


def next_study_name(home: str | os.PathLike | None = None, prefix: str = "search") -> str:
    """The first ``<prefix>-N`` (N = 1, 2, ...) that no job in ``home`` uses yet."""
    import optuna

    from .search import cached_storage, default_storage
    taken = {job["study"] for job in list_jobs(home)}
    try:  # the run store's storage may hold studies the CLI ran
        taken |= set(optuna.get_all_study_names(cached_storage(default_storage(home))))
    except Exception:  # an unreadable storage only means we cannot see its names
        pass
    n = 1
    while f"{prefix}-{n}" in taken:
        n += 1
    return f"{prefix}-{n}"


def launch(data: Dataset, study: str, home: str | os.PathLike | None = None, trials: int | None = None,
           timeout: float | None = None, folds: int = 3, jobs: int = 1, members: int = 5,
           epochs: int | None = None, data_info: dict[str, Any] | None = None,
           seeds: int | None = None) -> dict[str, Any]:
    """Start a background search for a page and record it in a job file; returns the job (see ``find_job``).

    ``data`` (n rows, features -> labels) is the training data. The search's ensemble goes to
    ``<home>/search/<study>.pt``; ``seeds`` per member default to ``search.ENSEMBLE_SEEDS``. A study name already
    used in ``home`` by a job is refused (pick another name), so one study never mixes trials run on different data.
    """
    from .engine import check_rows
    from .search import ENSEMBLE_SEEDS
    seeds = ENSEMBLE_SEEDS if seeds is None else seeds
    study = check_study_name(study)
    check_rows(data)  # the page says what is wrong with the file, not that the budget ended with no trial
    if trials is None and timeout is None:
        raise MultilabelError("give the search a budget: a number of trials, a time limit, or both")
    if find_job(study, home) is not None:
        raise MultilabelError(f"a search named {study!r} exists already; choose another name")
    folder = search_folder(home)
    out = folder / f"{study}.pt"
    job = start_background(data, study, home=home, trials=trials, timeout=timeout, folds=folds, jobs=jobs,
                           members=members, out=out, epochs=epochs, seeds=seeds)
    record = {"study": study, "storage": job.storage, "token": process_token(job.process.pid),
              "checkpoint": str(out), "log": str(job.log), "data_csv": str(job.data_csv),
              "rows": int(data.num_rows), "features": list(data.feature_names), "labels": list(data.label_names),
              "trials": trials, "timeout": timeout, "folds": folds, "jobs": jobs, "members": members, "seeds": seeds,
              "epochs": epochs, "data": dict(data_info or {}), "stop_requested": False,
              "started": time.time()}  # shown as elapsed time only; nothing stored depends on it
    _write_job(folder / f"{study}{JOB_SUFFIX}", record)
    return find_job(study, home) or record


def _write_job(path: Path, record: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(record))


def _job_record(job: dict[str, Any]) -> dict[str, Any]:
    """A job as its file holds it: without the fields ``_job_state`` adds."""
    return {k: v for k, v in job.items() if k not in ("alive", "result", "ensemble", "outcome")}


def _job_state(record: dict[str, Any]) -> dict[str, Any]:
    """The job file's record plus ``alive`` (its process runs), ``result`` (the final JSON line once ended),
    ``ensemble`` (the checkpoint path when the file exists) and ``outcome``."""
    pid = owner_pid(record.get("token"))
    if pid in _CHILDREN and _CHILDREN[pid].poll() is not None:  # reap our own child
        _CHILDREN.pop(pid, None)
    alive = owner_alive(record.get("token"))
    result = None if alive else _last_json_line(Path(record["log"]))
    checkpoint = Path(record["checkpoint"])
    ensemble_path = str(checkpoint) if not alive and checkpoint.is_file() else None
    # How it ended, as runs are read: a search process writes its final JSON line when it ends on its own or on
    # Stop (Ctrl-C); one that is gone without it was killed (or crashed): "died", never "finished".
    if alive:
        outcome = "running"
    elif result is None:
        outcome = "died"
    else:
        outcome = "stopped" if record.get("stop_requested") or result.get("interrupted") else "finished"
    return {**record, "alive": alive, "result": result, "ensemble": ensemble_path, "outcome": outcome}


def settle(summary: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    """``search.study_summary`` as a page shows it for ``job``: once the job's process is gone, a trial still marked
    running can never finish; it reads "DIED" (in the trials and the counts), so nothing looks alive that is not."""
    if job.get("alive") or not summary.get("states", {}).get("RUNNING"):
        return summary
    trials = [{**t, "state": "DIED"} if t["state"] == "RUNNING" else t for t in summary["trials"]]
    states = dict(summary["states"])
    states["DIED"] = states.get("DIED", 0) + states.pop("RUNNING")
    return {**summary, "trials": trials, "states": states}


def find_job(study: str, home: str | os.PathLike | None = None) -> Optional[dict[str, Any]]:
    """The background search ``study`` started in ``home`` (see ``_job_state``), or None."""
    path = search_folder(home) / f"{study}{JOB_SUFFIX}"
    try:
        return _job_state(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError):
        return None


def list_jobs(home: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every background search started in ``home``, most recently started first."""
    folder = search_folder(home)
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob(f"*{JOB_SUFFIX}"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    jobs = []
    for path in paths:
        job = find_job(path.name[: -len(JOB_SUFFIX)], home)
        if job is not None:
            jobs.append(job)
    return jobs


def stop_job(study: str, home: str | os.PathLike | None = None) -> bool:
    """Like Ctrl-C on the search ``study`` (its ``--jobs`` helpers too): the running trial ends at its next epoch,
    finished trials stay, and the ensemble of the best is still built. Returns whether a live search was told to
    stop."""
    job = find_job(study, home)
    if job is None or not job["alive"]:
        return False
    pid = owner_pid(job["token"])
    if pid is None or not interrupt(pid):
        return False
    _write_job(search_folder(home) / f"{study}{JOB_SUFFIX}", {**_job_record(job), "stop_requested": True})
    return True


def rebuild(study: str, members: int, home: str | os.PathLike | None = None,
            seeds: int | None = None) -> dict[str, Any]:
    """Refit the ended search ``study``'s best ``members`` configurations x ``seeds`` seeds (default: the search's
    own) on all its rows, in a background process, replacing its ensemble checkpoint (``members`` 1 and ``seeds`` 1:
    the single best model). Returns the job."""
    from .search import ENSEMBLE_SEEDS
    job = find_job(study, home)
    if job is None:
        raise MultilabelError(f"no search named {study!r} in this run store")
    if job["alive"]:
        raise MultilabelError(f"the search {study!r} is still running; stop it or wait for it to end first")
    seeds = int(job.get("seeds", ENSEMBLE_SEEDS) if seeds is None else seeds)
    if members < 1 or seeds < 1:
        raise MultilabelError(f"members and seeds must be >= 1, got {members} and {seeds}")
    if not Path(job["data_csv"]).is_file():
        raise MultilabelError(f"the data of search {study!r} is gone ({job['data_csv']}); start a new search")
    progress = search_folder(home) / progress_name(study)
    progress.unlink(missing_ok=True)  # the last refit's 100 % is not this one's
    argv = search_argv(job["data_csv"], job["labels"], job["storage"], study, trials=0, members=members,
                       seeds=seeds, out=job["checkpoint"], progress=progress)
    process = start(argv, log=Path(job["log"]), append=True)  # the new final JSON line comes last
    record = {**_job_record(job), "token": process_token(process.pid), "members": members, "seeds": seeds,
              "phase": "refit", "stop_requested": False,
              "refit_started": time.time()}  # shown as elapsed time only
    _write_job(search_folder(home) / f"{study}{JOB_SUFFIX}", record)
    return find_job(study, home) or record
