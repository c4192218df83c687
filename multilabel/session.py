"""Background training: a TrainingSession runs one engine call in a daemon thread; a registry finds it again.

The thread never touches a UI. It writes each epoch to the run store and into a lock-protected snapshot that any
reader (a page poll, the CLI, a test) copies out with ``snapshot()``.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from .checkpoint import save_checkpoint
from .config import TrainConfig
from .data import Dataset
from .engine import TrainResult, last_evaluated, train
from .errors import MultilabelError
from .store import LIVE_ONLY_FIELDS, RunStore, default_home


@dataclass
class RunView:
    """What a page shows of one run: a live run's snapshot or a stored run, in one shape.

    ``history`` holds the epoch records as the engine reported them (see engine.train); ``live`` the probe
    probabilities and histograms of the newest evaluated epoch; ``progress`` the newest in-epoch progress
    ({"epoch", "step", "steps"}) of a live run, or None.
    """

    run_id: str
    status: str
    history: list[dict[str, Any]]
    epoch: int
    epochs: int
    config: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    best: Optional[dict[str, Any]] = None
    error: Optional[str] = None
    checkpoint: Optional[str] = None
    alive: bool = False
    stopping: bool = False
    live: dict[str, Any] = field(default_factory=dict)
    progress: Optional[dict[str, Any]] = None
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    started_by: Optional[str] = None
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_evaluated(self) -> Optional[dict[str, Any]]:
        """The newest epoch record with validation metrics, or None."""
        return last_evaluated(self.history)


class TrainingSession:
    """One run in a background thread. ``snapshot()`` and ``stop()`` are safe from any thread."""

    def __init__(self, store: RunStore, config: TrainConfig, data: Dataset, name: str | None = None,
                 started_by: str | None = None) -> None:
        self.config = config.validate()
        self.store = store
        self.started_by = started_by
        self.run_id = store.create_run(config.to_dict(), data.description, name=name, started_by=started_by)
        self._data = data
        self._stop = threading.Event()
        # Set when the run has ended. Waiting on it (not on Thread.join) is safe to interrupt with Ctrl-C: an
        # interrupted Thread.join can leave the thread's state lock wrong, so a later join returns at once.
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._history: list[dict[str, Any]] = []  # records are never mutated after append: copies share them
        self._state: dict[str, Any] = {"status": "starting", "error": None, "info": {}, "best": None,
                                       "checkpoint": None, "started_at": time.time(), "finished_at": None,
                                       "progress": None}
        self.result: Optional[TrainResult] = None
        self._thread = threading.Thread(target=self._run, name=f"train-{self.run_id}", daemon=True)

    def start(self) -> TrainingSession:
        self._thread.start()
        return self

    # -- called from the training thread ----------------------------------------------------------------------
    def _on_start(self, info: dict[str, Any]) -> None:
        self.store.set_info(self.run_id, info)
        with self._lock:
            self._state.update(status="running", info=info)

    def _on_epoch(self, record: dict[str, Any]) -> None:
        self.store.log_epoch(self.run_id, record)
        with self._lock:
            self._history.append(record)
            self._state["progress"] = None

    def _on_progress(self, progress: dict[str, Any]) -> None:
        with self._lock:
            self._state["progress"] = progress

    def _run(self) -> None:
        try:
            result = train(self.config, self._data, on_epoch=self._on_epoch, stop=self._stop, on_start=self._on_start,
                           on_progress=self._on_progress)
            result.trained.run_id = self.run_id
            result.trained.resume = result.resume.to_dict()
            path = save_checkpoint(result.trained, self.store.checkpoint_path(self.run_id))
            self.store.save_validation(self.run_id, result.val_probs, result.val_targets)
            self.store.finish(self.run_id, result.outcome, best=result.best, checkpoint=path)
            self.result = result
            with self._lock:
                self._state.update(status=result.outcome, best=result.best, checkpoint=str(path))
        except MultilabelError as exc:
            self._fail(str(exc))
        except BaseException as exc:  # a bug: keep the traceback for whoever reads the snapshot, mark the run
            self._fail(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            self._data = None  # type: ignore[assignment]  # let the arrays go once the run is over
            with self._lock:
                self._state["finished_at"] = time.time()
            self._done.set()

    def _fail(self, message: str, trace: str | None = None) -> None:
        try:
            self.store.fail(self.run_id, message)
        except MultilabelError:
            pass  # the store cannot be written (a full disk): the message still reaches readers through the snapshot
        finally:
            with self._lock:
                self._state.update(status="failed", error=message, traceback=trace)

    # -- called from anywhere ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the run to end after the current epoch; the best weights so far are kept and saved."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True once it has."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return self._thread.ident is not None and not self._done.is_set()

    def snapshot(self) -> dict[str, Any]:
        """A copy of the live state: status, epoch, epochs, history (list of epoch records), info, best, error."""
        with self._lock:
            history = list(self._history)
            state = dict(self._state)
        last = history[-1] if history else None
        return {**state, "run_id": self.run_id, "config": self.config.to_dict(), "history": history,
                "epoch": last["epoch"] if last else 0, "epochs": self.config.epochs,
                "stopping": self._stop.is_set() and self.running, "alive": self.running}


class SessionRegistry:
    """Process-wide map of run id -> TrainingSession over one run store."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._sessions: dict[str, TrainingSession] = {}

    def start(self, config: TrainConfig, data: Dataset, name: str | None = None,
              started_by: str | None = None) -> TrainingSession:
        """Start a run in the background. ``started_by`` says who (a browser session, the CLI) for other viewers."""
        _warm_up()
        session = TrainingSession(self.store, config, data, name=name, started_by=started_by)
        with self._lock:
            self._sessions[session.run_id] = session
        return session.start()

    def is_live(self, run_id: str | None) -> bool:
        session = self.get(run_id)
        return session is not None and session.running

    def stop(self, run_id: str, by: str | None = None) -> None:
        """Ask a live run to stop after its current step; where ``by`` is not who started it, note who stopped it."""
        session = self.get(run_id)
        if session is None or not session.running:
            return
        if by is not None and by != session.started_by:
            self.store.add_note(run_id, f"stopped by {by}")
        session.stop()

    def get(self, run_id: str | None) -> Optional[TrainingSession]:
        with self._lock:
            return self._sessions.get(run_id) if run_id else None

    def sessions(self) -> list[TrainingSession]:
        with self._lock:
            return list(self._sessions.values())

    def active(self) -> list[TrainingSession]:
        return [s for s in self.sessions() if s.running]

    def view(self, run_id: str) -> RunView:
        """What a page shows for a run: the live snapshot if this process runs it, else the stored record."""
        run = self.store.get_run(run_id)
        session = self.get(run_id)
        if session is not None:
            snap = session.snapshot()
            last = last_evaluated(snap["history"]) or {}
            return RunView(run_id=run_id, status=snap["status"], history=snap["history"], epoch=snap["epoch"],
                           epochs=snap["epochs"], config=snap["config"], info=snap["info"],
                           best=run["best"] or snap["best"],  # the store's: saved thresholds change it after the end
                           error=snap["error"], checkpoint=snap["checkpoint"], alive=snap["alive"],
                           stopping=snap["stopping"], live={k: last[k] for k in LIVE_ONLY_FIELDS if k in last},
                           progress=snap["progress"] if snap["alive"] else None, started_at=snap["started_at"],
                           finished_at=snap["finished_at"], started_by=session.started_by, notes=run["notes"])
        history = self.store.history(run_id)
        return RunView(run_id=run_id, status=run["status"], history=history,
                       epoch=history[-1]["epoch"] if history else 0, epochs=run["config"].get("epochs", 0),
                       config=run["config"], info=run["info"] or {}, best=run["best"], error=run["error"],
                       checkpoint=run["checkpoint"], live=run["last_live"] or {}, started_at=run["created_at"],
                       finished_at=run["finished_at"], started_by=run["started_by"], notes=run["notes"])


_registries: dict[Path, SessionRegistry] = {}
_registries_lock = threading.Lock()
_warm = False


@atexit.register
def _stop_live_runs(wait_s: float = 10.0) -> None:
    """At interpreter exit (Ctrl-C on the server, the end of a script) stop live runs and let them save their best
    weights: a daemon thread still inside torch when the interpreter finalizes aborts the process ("terminate called
    without an active exception") and leaves the run 'interrupted'."""
    with _registries_lock:
        live = [session for registry in _registries.values() for session in registry.active()]
    for session in live:
        session.stop()
    deadline = time.monotonic() + wait_s
    for session in live:
        session.join(timeout=max(0.0, deadline - time.monotonic()))


def get_registry(home: str | os.PathLike | None = None) -> SessionRegistry:
    """The one registry for a home folder in this process (created on first use)."""
    key = (Path(home) if home is not None else default_home()).resolve()
    with _registries_lock:
        if key not in _registries:
            _registries[key] = SessionRegistry(RunStore(key))
        return _registries[key]


def _warm_up() -> None:
    """Run torch's lazy imports and one Adam step in the calling (main) thread before any training thread starts."""
    global _warm
    if _warm:
        return
    layer = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(layer.parameters())
    layer(torch.zeros(1, 2)).sum().backward()
    opt.step()
    _warm = True
