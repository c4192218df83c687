"""Background training: each run trains in its own worker process; a registry starts, finds, stops and views runs.

The server (or any process holding a registry) only reads: ``registry.view(run_id)`` builds a RunView from the run
store, which the worker writes (epochs, progress, checkpoints, the outcome). So a page poll never competes with
training for the interpreter lock, and a registry in a restarted server finds live workers' runs again and can stop
them: a run is live while its owner process (the worker, see multilabel/worker.py) runs.

Workers come from a forkserver that has imported torch and the engine once (multilabel/forkserver.py, with
``multilabel._preload`` as its preload), so a start costs a fork and the data's transfer, well under a second. Each
worker gets ``worker.threads_for(live runs)`` torch threads: max(1, cores // live runs, itself included), capped by
$OMP_NUM_THREADS when set and by the work of one step (one thread per threads.MACS_PER_THREAD), and re-sizes them
every second as runs start and end (worker.ThreadShare), so the live runs together use the cores without
oversubscribing them. Workers run at nice 5, below the server.

Control: ``pause``/``resume``/``step`` write the run's pause request to the store, which the worker polls
(worker.PauseFlag), so any process can pause any live run and a pause survives page reloads and server restarts.
``continue_run`` starts a new run that continues a finished one from its checkpoint (worker.prepare_continuation).
The queue (``enqueue``) lives in the store (the ``queue`` table, each item's arrays in ``queue/<id>.npz``). A worker
whose run ends on its own starts the next waiting item itself, in its own process (worker.start_queued), so the queue
goes on with no page open and whether or not the server that queued it still runs; a daemon thread of the registry,
running while the queue is not empty, starts the first waiting item whenever no run in the store is live (paused runs
included): after a stop, a failure, or at a restarted server's first page.

If the process holding the registry dies (kill -9 of the server), its workers keep training and writing the store;
a new registry (the restarted server) shows them as live and can stop them. At a normal exit (Ctrl-C on the
server, the end of a script) the workers this process started are stopped and save their best weights.
"""

from __future__ import annotations

import atexit
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .config import TrainConfig
from .data import Dataset, stored_description
from .engine import check_rows, last_evaluated
from .errors import MultilabelError
from .forkserver import WORKER_NAME, worker_context
from .jobs import owner_alive, owner_pid
from .store import RunStore, default_home

JOIN_POLL_S = 0.05
QUEUE_POLL_S = 0.5  # how often the queue thread looks whether the previous run has ended
HISTORY_CACHE_RUNS = 64  # runs whose parsed epoch records a registry keeps (a long-lived server views many)


@dataclass
class RunView:
    """What a page shows of one run, live or finished, read from the run store by whichever process asks.

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
    # Control. paused: the worker waits before epoch ``epoch + 1``; pausing: a pause was asked for and
    # the current epoch is still training; stepping: one more epoch was asked for, then it waits again.
    paused: bool = False
    pausing: bool = False
    stepping: bool = False
    continued_from: Optional[str] = None

    @property
    def next_step(self) -> int:
        """The epoch One epoch asked now waits after: the one after the last logged (on a running run, the epoch in
        training). Asked twice before that epoch is logged, it asks for one epoch: a page's click callback can
        come twice (Streamlit replays a trigger when a rerun interrupts the click's)."""
        return self.epoch + 1

    @property
    def last_evaluated(self) -> Optional[dict[str, Any]]:
        """The newest epoch record with validation metrics, or None."""
        return last_evaluated(self.history)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


class TrainingSession:
    """A handle on one run's worker: ``stop()``, ``join()``, ``running``, ``view()``.

    ``process`` is the worker when this process started it; a handle on a run another process started (a live run
    found in the store) has none and follows the store.
    """

    def __init__(self, registry: SessionRegistry, run_id: str, process: Optional[Any] = None,
                 threads: Optional[int] = None) -> None:
        self.registry, self.run_id, self.process, self.threads = registry, run_id, process, threads
        self._reaped = False
        # Polling a forkserver child reads its exit code from a pipe once; two threads polling at the same time
        # (two browser tabs) could both try, and the loser would record 255. One poll at a time.
        self._poll_lock = threading.Lock()

    def _process_alive(self) -> bool:
        with self._poll_lock:
            return self.process.is_alive()

    def stop(self, by: str | None = None) -> None:
        """Ask the run to stop; it ends within about a step plus one validation pass and keeps its best weights."""
        self.registry.stop(self.run_id, by=by)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True once it has (its worker exited, the store holds the outcome)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.process is not None:
            multiprocessing.connection.wait([self.process.sentinel], timeout)  # readable once the worker exits
            if self._process_alive():
                return False
            self.registry._reap(self)
            return True
        while self.registry.is_live(self.run_id):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(JOIN_POLL_S)
        return True

    @property
    def running(self) -> bool:
        return self.registry.is_live(self.run_id)

    def view(self) -> RunView:
        return self.registry.view(self.run_id)

    def pause(self, by: str | None = None) -> None:
        self.registry.pause(self.run_id, by=by)

    def resume(self, by: str | None = None) -> None:
        self.registry.resume(self.run_id, by=by)

    def step(self, by: str | None = None, until: int | None = None) -> None:
        self.registry.step(self.run_id, by=by, until=until)

    def snapshot(self) -> dict[str, Any]:
        """The view as a plain dict (a copy)."""
        return self.view().as_dict()


class SessionRegistry:
    """Starts runs in worker processes and finds any run of one run store, live or not.

    ``threads_per_run`` fixes the torch threads of every worker this registry starts (default: threads_for).
    """

    def __init__(self, store: RunStore, threads_per_run: Optional[int] = None,
                 checkpoint_every_s: Optional[float] = None) -> None:
        self.store = store
        self.threads_per_run = threads_per_run
        # Seconds between a worker's checkpoints of the best weights so far (callbacks.Checkpoint); None: the
        # environment's ($MULTILABEL_CHECKPOINT_EVERY_S), else the callback's default.
        self.checkpoint_every_s = checkpoint_every_s
        self._lock = threading.RLock()
        self._sessions: dict[str, TrainingSession] = {}
        self._histories: dict[str, list[dict[str, Any]]] = {}
        self._queue_thread: Optional[threading.Thread] = None
        _all_registries.add(self)
        worker_context()  # start the forkserver now, so its imports are done before the first start
        if self.store.queue():  # a restarted server goes on with the queue it left
            self._ensure_queue_thread()

    # -- starting and stopping --------------------------------------------------------------------------------
    def start(self, config: TrainConfig, data: Dataset, name: str | None = None,
              started_by: str | None = None, trackers: Any = None) -> TrainingSession:
        """Create the run in the store and start its worker; returns at once (the worker trains).

        ``trackers``: a tracking.TrackerSpec (TensorBoard, MLflow) the worker also logs to; a missing package is
        refused here, before the run is created."""
        config = config.validate()
        check_rows(data)  # refused before the run exists: a run that can only fail is not left behind
        if trackers:
            from .tracking import check_installed
            check_installed(trackers)
        run_id = self.store.create_run(config.to_dict(), stored_description(data), name=name, started_by=started_by)
        return self._launch(run_id, config, data, trackers=trackers)

    def continue_run(self, run_id: str, more_epochs: int, data: Dataset | None = None, name: str | None = None,
                     started_by: str | None = None) -> TrainingSession:
        """Continue a finished or stopped run for ``more_epochs`` epochs in a new, linked run (returned at once).

        The new run carries the parent's epochs and ``continued_from``; its worker loads the parent's checkpoint
        (weights, optimizer state, random streams), so the numbers equal one uninterrupted run of the total length.
        ``data``: the parent's rows (needed for a CSV run; synthetic data is rebuilt). See
        worker.prepare_continuation for the rules; a run that cannot be continued raises MultilabelError.
        """
        from .worker import prepare_continuation

        child, config, data, checkpoint = prepare_continuation(self.store, run_id, more_epochs, data, name=name,
                                                               started_by=started_by)
        return self._launch(child, config, data, resume_from=checkpoint)

    def _launch(self, run_id: str, config: TrainConfig, data: Dataset,
                resume_from: str | None = None, trackers: Any = None) -> TrainingSession:
        from .threads import run_macs
        from .worker import checkpoint_every_s, env_thread_cap, threads_for, worker_main

        cap = env_thread_cap()
        every_s = self.checkpoint_every_s if self.checkpoint_every_s is not None else checkpoint_every_s()
        threads = self.threads_per_run or threads_for(len(self.store.training_run_ids()), cap,
                                                      run_macs(config, data.num_rows))
        ctx = worker_context()
        process = ctx.Process(target=worker_main, name=f"{WORKER_NAME}{run_id}", daemon=True,
                              args=(str(self.store.home), run_id, config, data, threads, every_s, cap,
                                    self.threads_per_run is None, resume_from, trackers))
        try:
            process.start()
        except BaseException as exc:
            self.store.fail(run_id, f"could not start a worker process ({type(exc).__name__}: {exc})")
            raise
        session = TrainingSession(self, run_id, process, threads)
        with self._lock:
            self._sessions[run_id] = session
        return session

    # -- pause, resume, one epoch ---------------------------------------------------------------------------
    def pause(self, run_id: str, by: str | None = None) -> None:
        """Ask a live run to wait before its next epoch (the current one finishes); any process may ask."""
        self._control(run_id, "paused", by, lambda: self.store.request_pause(run_id, True))

    def resume(self, run_id: str, by: str | None = None) -> None:
        """Let a paused run go on (within about worker.PAUSE_POLL_S)."""
        self._control(run_id, "resumed", by, lambda: self.store.request_pause(run_id, False))

    def step(self, run_id: str, by: str | None = None, until: int | None = None) -> None:
        """One more epoch, then wait again (on a running run: finish the current epoch, then wait).

        ``until``: the epoch to wait after (a page passes RunView.next_step, so that the same click delivered twice
        trains one epoch); None: one more than the epochs done or already asked for."""
        self._control(run_id, "stepped", by, lambda: self.store.request_step(run_id, until))

    def _control(self, run_id: str, word: str, by: str | None, ask: Any) -> None:
        run = self.store.get_run(run_id)
        if run["status"] != "running":
            return
        ask()
        if by is not None and by != run["started_by"]:
            self.store.add_note(run_id, f"{word} by {by}")

    # -- the queue ----------------------------------------------------------------------------------------------
    def enqueue(self, config: TrainConfig, data: Dataset, name: str | None = None,
                started_by: str | None = None) -> int:
        """Add a run to the queue; it starts when every run before it has ended and no run is live. Returns its id."""
        config = config.validate()
        check_rows(data)
        arrays = {"X": data.X, "Y": data.Y, "feature_names": np.asarray(data.feature_names, dtype=str),
                  "label_names": np.asarray(data.label_names, dtype=str)}
        item_id = self.store.enqueue(config.to_dict(), data.description, arrays, name=name, started_by=started_by)
        self._ensure_queue_thread()
        return item_id

    def queued(self) -> list[dict[str, Any]]:
        """Queue items not started yet, in order: {"id", "config", "data", "name", "started_by", "state", ...}."""
        return self.store.queue()

    def unqueue(self, item_id: int) -> bool:
        """Remove a waiting item; False when it already started."""
        return self.store.unqueue(item_id)

    def start_next_queued(self) -> Optional[TrainingSession]:
        """Start the first waiting item if no run is live (what the queue thread does every QUEUE_POLL_S)."""
        from .worker import queued_item

        item = self.store.claim_next_queued()
        if item is None:
            return None
        try:
            config, data = queued_item(self.store, item)
            session = self.start(config, data, name=item["name"], started_by=item["started_by"])
        except Exception as exc:  # a removed file, a config this version refuses: the item fails, the queue goes on
            message = str(exc) if isinstance(exc, MultilabelError) else f"{type(exc).__name__}: {exc}"
            self.store.queued_started(item["id"], error=message)
            return None
        self.store.queued_started(item["id"], run_id=session.run_id)
        return session

    def _ensure_queue_thread(self) -> None:
        with self._lock:
            if self._queue_thread is None or not self._queue_thread.is_alive():
                self._queue_thread = threading.Thread(target=_queue_loop, args=(weakref.ref(self),), daemon=True,
                                                      name="multilabel-queue")
                self._queue_thread.start()

    def stop(self, run_id: str, by: str | None = None) -> None:
        """Ask a live run to stop, from any process: a stop request in the store, and SIGTERM to its worker.

        When ``by`` is given and differs from the run's started_by, the note "stopped by <by>" is added.
        """
        run = self.store.get_run(run_id)
        if run["status"] != "running":
            return
        self.store.request_stop(run_id)
        if by is not None and by != run["started_by"]:
            self.store.add_note(run_id, f"stopped by {by}")
        owner = self.store.get_run(run_id)["owner"]  # read after the request: see worker.worker_main
        if owner and owner != self.store.owner and owner_alive(owner):
            try:
                os.kill(owner_pid(owner), signal.SIGTERM)  # the worker's handler sets its stop flag
            except ProcessLookupError:
                pass

    # -- finding runs -----------------------------------------------------------------------------------------
    def get(self, run_id: str | None) -> Optional[TrainingSession]:
        """A handle on a run this registry started, or on a live run another process started; else None."""
        if not run_id:
            return None
        with self._lock:
            session = self._sessions.get(run_id)
        if session is not None:
            return session
        if self.is_live(run_id):
            return TrainingSession(self, run_id)
        return None

    def sessions(self) -> list[TrainingSession]:
        """Handles on the runs this registry started."""
        with self._lock:
            return list(self._sessions.values())

    def active(self) -> list[TrainingSession]:
        """The runs this registry started that are still live."""
        return [s for s in self.sessions() if s.running]

    def is_live(self, run_id: str) -> bool:
        """True while the run's owner process runs and the run has not ended."""
        self._reap_if_dead(run_id)
        try:
            return self.store.get_run(run_id)["status"] == "running"
        except Exception:  # an unknown (deleted) run is not live
            return False

    def view(self, run_id: str) -> RunView:
        """The run as a page shows it: the stored record, its epochs (read incrementally), live progress."""
        self._reap_if_dead(run_id)
        run = self.store.get_run(run_id)
        history = self._history(run_id)
        epoch = history[-1]["epoch"] if history else 0
        alive = run["status"] == "running"
        progress = run["progress"]
        asked = alive and run["pause_requested"] is not None
        step_until = run["step_until"]
        stepping = asked and step_until is not None and step_until > epoch
        paused = asked and not stepping and bool(progress and progress.get("paused") and progress["epoch"] > epoch)
        if not alive or not progress or progress.get("epoch", 0) <= epoch:
            progress = None  # the epoch it described has been logged
        return RunView(
            run_id=run_id, status=run["status"], history=list(history), epoch=epoch,
            epochs=run["config"].get("epochs", 0), config=run["config"], info=run["info"] or {}, best=run["best"],
            error=run["error"], checkpoint=run["checkpoint"], alive=alive,
            stopping=alive and run["stop_requested"] is not None, live=run["last_live"] or {},
            progress=progress, started_at=run["created_at"], finished_at=run["finished_at"],
            started_by=run["started_by"], notes=run["notes"], paused=paused,
            pausing=asked and not stepping and not paused, stepping=stepping,
            continued_from=run["continued_from"])

    def _history(self, run_id: str) -> list[dict[str, Any]]:
        """The run's epochs, cached: only epochs newer than the cached ones are read and parsed."""
        with self._lock:
            cached = self._histories.get(run_id, [])
        after = cached[-1]["epoch"] if cached else 0
        new = self.store.history(run_id, after=after)
        if new:
            cached = cached + new  # a new list: views handed out earlier keep theirs
            with self._lock:
                self._histories.pop(run_id, None)
                self._histories[run_id] = cached  # newest last: the oldest entries go first
                while len(self._histories) > HISTORY_CACHE_RUNS:
                    self._histories.pop(next(iter(self._histories)))
        return cached

    def _reap_if_dead(self, run_id: str) -> None:
        with self._lock:
            session = self._sessions.get(run_id)
        if session is not None and session.process is not None and not session._reaped:
            if not session._process_alive():
                self._reap(session)

    def _reap(self, session: TrainingSession) -> None:
        """After this registry's worker exited: a run it left unfinished gets its end and the reason."""
        with self._lock:
            if session._reaped:
                return
            session._reaped = True
        code = session.process.exitcode
        run = self.store.get_run(session.run_id)
        if run["finished_at"] is not None:
            return  # the worker recorded the outcome itself
        if code is not None and code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
            status = "interrupted"
        else:
            how, status = f"exited with code {code} without finishing the run", "failed"
        kept = " (the last checkpoint of the best weights is kept)" if run["checkpoint"] else ""
        # A worker that could not record its end (a full disk) left the reason in the run's error file: keep it.
        message = self.store.side_error(session.run_id) or (f"the worker process (pid {session.process.pid}) "
                                                            f"{how}; its epochs are kept{kept}")
        try:
            self.store.fail(session.run_id, message, status=status)
        except MultilabelError:  # a full disk: fail() left the message in the run's error file, which views show
            pass


def _queue_loop(ref: "weakref.ref[SessionRegistry]") -> None:
    """The queue thread: start the next waiting item whenever no run is live; end when the queue is empty."""
    while not _exiting:
        registry = ref()
        if registry is None:
            return
        try:
            with registry._lock:  # an enqueue after this check finds the thread gone and starts another
                if not registry.store.queue():
                    registry._queue_thread = None
                    return
            registry.start_next_queued()
        except Exception:  # a closed or locked store: try again at the next poll
            pass
        del registry
        time.sleep(QUEUE_POLL_S)


_exiting = False
_registries: dict[Path, SessionRegistry] = {}
_registries_lock = threading.Lock()
_all_registries: "weakref.WeakSet[SessionRegistry]" = weakref.WeakSet()


SHUTDOWN_BY = "the dashboard's server as it shut down"  # who stopped a run, in its note ("stopped by ...")


@atexit.register
def _stop_live_runs(wait_s: float = 30.0) -> None:
    """At interpreter exit (Ctrl-C on the server, the end of a script) stop the workers this process started and
    wait for them to save their best weights (multiprocessing would otherwise SIGTERM and join them, to the same
    effect, without a bound on the wait). No queued run starts after this."""
    global _exiting
    _exiting = True
    live = []
    for registry in list(_all_registries):
        try:
            live.extend(registry.active())
        except Exception:  # a closed store: its workers still get multiprocessing's SIGTERM at exit
            pass
    for session in live:
        try:
            session.stop(by=SHUTDOWN_BY)  # the run's note says so: nobody pressed Stop
        except Exception:  # a closed store: the worker still gets multiprocessing's SIGTERM
            pass
    deadline = time.monotonic() + wait_s
    for session in live:
        try:
            session.join(timeout=max(0.0, deadline - time.monotonic()))
        except Exception:
            pass


def get_registry(home: str | os.PathLike | None = None) -> SessionRegistry:
    """The one registry for a home folder in this process (created on first use)."""
    key = (Path(home) if home is not None else default_home()).resolve()
    with _registries_lock:
        if key not in _registries:
            _registries[key] = SessionRegistry(RunStore(key))
        return _registries[key]
