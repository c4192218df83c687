"""Training out of the server's process: one run per worker process, started from a preloaded forkserver.

Why: threads in the Streamlit server share one interpreter lock and one torch thread pool with every page; with a
few watched runs on 2 cores the server stopped answering. A worker process owns its run in the store (its
'pid:start-time' is the run's owner, so a worker that dies leaves the run 'interrupted', never 'running'), writes
every epoch, the live progress and checkpoints of the best weights so far to the run store, and stops when asked:

- SIGTERM or SIGINT set the stop flag the engine checks between steps (``registry.stop`` sends SIGTERM; Ctrl-C on
  the server's terminal reaches the whole process group), and
- the flag also polls the store's ``stop_requested`` column (every STOP_POLL_S), so a stop asked before the
  worker installed its handlers, or by a process that cannot signal it, still arrives.

Pause, one epoch and continue: the engine waits between epochs while its ``pause`` flag is set. A
worker's PauseFlag polls the store's ``pause_requested``/``step_until`` (every PAUSE_POLL_S): a pause holds the run
before its next epoch with the optimizer state intact; "one epoch" lets exactly one more epoch through, then holds
it again. A worker given ``resume_from`` (a finished run's checkpoint) continues that run's weights, Adam state and
random streams (engine.ResumeState) in a new run that carries the parent's epochs (see ``prepare_continuation``).

The forkserver preloads ``multilabel._preload`` (this module, torch, the engine and what torch imports lazily on a
run's first step) once; no torch op runs there, so no torch thread exists when it forks, and each start costs a
fork plus unpickling the data. ``run_training`` is the same store wiring for a run trained in the calling
process (the CLI).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import Any, Callable, Iterator, Optional

import torch

from . import engine
from .callbacks import Checkpoint, LiveSnapshots, LiveValidation, Pause, Refit, Report
from .checkpoint import TrainedModel, save_checkpoint
from .config import TrainConfig
from .data import Dataset, stored_description
from .engine import TrainResult
from .errors import MultilabelError
from .store import RunStore
from .threads import run_macs, threads_worth

PAUSE_POLL_S = 0.1  # how often a pause flag reads the store's pause request (the engine asks once per epoch)
STOP_POLL_S = 0.25  # how often the stop flag reads the store's stop request (signals arrive at once)
REBALANCE_S = 1.0  # how often a worker re-sizes its torch threads to its share of the cores
# Workers run below the server's priority: a page render or a health check never waits behind training, and
# training loses only the little CPU the server uses. $MULTILABEL_WORKER_NICE sets another niceness.
WORKER_NICE = 5
NICE_ENV = "MULTILABEL_WORKER_NICE"
CHECKPOINT_ENV = "MULTILABEL_CHECKPOINT_EVERY_S"


def checkpoint_every_s() -> Optional[float]:
    """The checkpoint cadence the environment asks for ($MULTILABEL_CHECKPOINT_EVERY_S, read now), or None (then
    callbacks.Checkpoint's default). A registry started with ``checkpoint_every_s`` passes its own instead."""
    value = os.environ.get(CHECKPOINT_ENV)
    return float(value) if value else None


class StopFlag:
    """The engine's ``stop``: set by ``set()``, by SIGTERM/SIGINT once handlers are installed, or by the store.

    ``is_set()`` is cheap: it reads the store's stop request at most every STOP_POLL_S.
    """

    def __init__(self, store: Optional[RunStore] = None, run_id: Optional[str] = None,
                 on_poll: Optional[Callable[[], None]] = None) -> None:
        self._set = False
        self._store, self._run_id = store, run_id
        self._on_poll = on_poll  # also called at the poll's cadence, in the training thread, between steps
        self._next_poll = 0.0
        self.signalled: Optional[int] = None  # the signal that set the flag, if one did

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        if not self._set and self._store is not None and time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + STOP_POLL_S
            try:
                self._set = self._store.stop_requested(self._run_id)
                if self._on_poll is not None:
                    self._on_poll()
            except Exception:  # a locked or closing database must not end training; signals still work
                pass
        return self._set

    def install_signal_handlers(self, on_signal: Optional[Callable[[int], None]] = None,
                                signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> dict[int, Any]:
        """First SIGTERM/SIGINT sets the flag, calls ``on_signal(signum)``, then the handler installed before (see
        ``_composable``); a second SIGINT interrupts. Returns the previous handlers; prefer ``handling_signals``,
        which puts them back."""
        previous = {sig: signal.getsignal(sig) for sig in signals}

        def handle(signum: int, frame: Any) -> None:
            if self._set and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._set = True
            self.signalled = signum
            if on_signal is not None:
                on_signal(signum)
            if _composable(previous[signum]):
                previous[signum](signum, frame)

        for sig in signals:
            signal.signal(sig, handle)
        return previous

    @contextlib.contextmanager
    def handling_signals(self, on_signal: Optional[Callable[[int], None]] = None,
                         signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[StopFlag]:
        """``install_signal_handlers`` while inside the block; the process's previous handlers are restored on the
        way out, however the block ends (Lightning's signal connector does the same on teardown)."""
        previous = self.install_signal_handlers(on_signal, signals)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _composable(handler: Any) -> bool:
    """Whether a signal's previous handler is also called when the stop flag's handler runs: any Python function
    but Python's default SIGINT handler (it raises KeyboardInterrupt at once, which is what a graceful stop replaces);
    SIG_DFL and SIG_IGN are not functions."""
    return callable(handler) and handler is not signal.default_int_handler


class PauseFlag:
    """The engine's ``pause``: set while the store asks the run to wait, except for the epochs a step lets through.

    The engine's Pause callback asks ``is_set()`` before each epoch and, while waiting, every callbacks.PAUSE_POLL_S;
    the store is read at most every PAUSE_POLL_S. ``epoch_done`` (the last epoch logged, kept by ``run_training``)
    decides a step: with ``step_until = n`` the run trains until epoch n is logged, then waits again.
    """

    def __init__(self, store: RunStore, run_id: str, epoch_done: int = 0) -> None:
        self._store, self._run_id = store, run_id
        self.epoch_done = epoch_done
        self._paused, self._step_until = False, None  # type: tuple[bool, Optional[int]]
        self._next_poll = 0.0
        self._waiting = False

    def is_set(self) -> bool:
        if time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + PAUSE_POLL_S
            try:
                self._paused, self._step_until = self._store.pause_state(self._run_id)
            except Exception:  # a locked or closing database must not end training
                pass
        waiting = self._paused and (self._step_until is None or self.epoch_done >= self._step_until)
        if self._waiting and not waiting:  # the wait ends: drop the engine's "paused" progress at once
            try:
                self._store.set_progress(self._run_id, {"epoch": self.epoch_done + 1, "step": 0})
            except Exception:
                pass
        self._waiting = waiting
        return waiting


def run_training(store: RunStore, run_id: str, config: TrainConfig, data: Dataset, stop: Any,
                 on_epoch: Optional[Callable[[dict[str, Any]], None]] = None,
                 checkpoint_every: Optional[float] = None, pause: Any = None,
                 resume: Optional[engine.ResumeState] = None,
                 on_refit: Optional[Callable[[dict[str, Any]], None]] = None,
                 trackers: Any = None) -> Optional[TrainResult]:
    """Train one stored run in this process, writing everything to ``store``; return the result, None if it failed.

    Per epoch: ``store.log_epoch`` (then ``on_epoch(record)``); inside an epoch: the engine's progress (at most
    every 0.5 s, see stepper.PROGRESS_S); whenever callbacks.Checkpoint offers the best weights so far (every
    ``checkpoint_every`` seconds, None: its default): an atomic checkpoint at the run's checkpoint path, recorded in
    the store (so a kill keeps a usable model); at the end: the final checkpoint and ``finish``. A user mistake
    (MultilabelError) fails the run with its message; any other exception fails it with its type and message, prints
    the traceback to stderr and is raised again.
    ``pause`` (a PauseFlag, or anything with ``is_set()``) holds the run between epochs; ``resume`` continues a
    run (see engine.ResumeState). The final checkpoint carries the resume state, and the run's info says from
    which epoch it can be continued (``resumable``) and on which data (``data_digest``). With refit "all", the
    run's info gets ``refitting`` ({"epochs", "rows", "expected_s"}) when the refit starts, and ``on_refit`` is
    called with that dict and ``"epoch": 0``, then after each refit epoch with its number. ``trackers`` (a
    tracking.Trackers: TensorBoard, MLflow) get every epoch, the validation snapshots, and the end.
    """
    path = store.checkpoint_path(run_id)

    def on_start(info: dict[str, Any]) -> None:
        store.set_info(run_id, {**info, "threads": torch.get_num_threads()})

    def log(record: dict[str, Any]) -> None:
        store.log_epoch(run_id, record)
        if isinstance(pause, PauseFlag):
            pause.epoch_done = record["epoch"]
        if on_epoch is not None:
            on_epoch(record)
        if trackers:
            trackers.epoch(record)

    def on_progress(progress: dict[str, Any]) -> None:
        store.set_progress(run_id, progress)

    def on_checkpoint(trained: TrainedModel) -> None:
        trained.run_id = run_id
        store.set_checkpoint(run_id, save_checkpoint(trained, path))

    def on_validation(live: LiveValidation) -> None:  # the Inspect page's live view; never fails the run
        try:
            store.save_live_validation(run_id, live.arrays())
        except MultilabelError:
            pass
        if trackers:
            trackers.validation(live)

    plan: dict[str, Any] = {}

    def on_refit_plan(refit_plan: dict[str, Any]) -> None:  # config.refit "all": retrain on every row; pages say so
        plan.update(refit_plan)
        store.update_info(run_id, {"refitting": refit_plan})
        if on_refit is not None:
            on_refit({**refit_plan, "epoch": 0})

    def on_refit_epoch(epoch: int) -> None:
        on_refit({**plan, "epoch": epoch})

    callbacks = [Report(on_start, log, on_progress), *([Pause(pause)] if pause is not None else []),
                 LiveSnapshots(on_validation), Checkpoint(on_checkpoint, every_s=checkpoint_every),
                 Refit(on_refit_plan, on_refit_epoch if on_refit is not None else None)]
    try:
        result = engine.fit(config, data, callbacks, stop=stop, resume=resume)
        if "refit" in result.info:  # done (a stop during the refit keeps the run's own model)
            store.update_info(run_id, {"refit": {k: result.info["refit"][k] for k in ("epochs", "rows")}})
        if "refit_stopped" in result.info:  # pages say the saved model is the run's own, not the refit they saw
            store.update_info(run_id, {"refit_stopped": result.info["refit_stopped"]})
        result.trained.run_id = run_id
        result.trained.resume = result.resume.to_dict()
        saved = save_checkpoint(result.trained, path)
        store.save_validation(run_id, result.val_probs, result.val_targets)
        store.update_info(run_id, {"resumable": result.resume.epoch, "data_digest": result.resume.data_digest})
        store.finish(run_id, result.outcome, best=result.best, checkpoint=saved)
        if trackers:
            trackers.finish(result, saved)
        return result
    except MultilabelError as exc:
        _fail(store, run_id, str(exc))
        if trackers:
            trackers.fail()
        return None
    except BaseException as exc:
        _fail(store, run_id, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if trackers:
            trackers.fail()
        raise


class ThreadShare:
    """Keeps this worker's torch threads at its share of the cores as runs start and end.

    Every REBALANCE_S: ``threads_for(live runs in the store, cap, macs_per_step)``; torch.set_num_threads between
    steps. Sizing a run only when it starts is not enough: a run started alone takes every core, and when three
    more start, its OpenMP threads wait at every barrier for threads the OS has descheduled (measured on 2 cores:
    0.03 epochs/s for the 2-thread run beside 1.9 for each 1-thread run).
    """

    def __init__(self, store: RunStore, run_id: str, cap: Optional[int], macs_per_step: Optional[int] = None) -> None:
        self.store, self.run_id, self.cap, self.macs_per_step = store, run_id, cap, macs_per_step
        self._next = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + REBALANCE_S
        # A paused run leaves its cores.
        want = threads_for(len(self.store.training_run_ids()), self.cap, self.macs_per_step)
        if want != torch.get_num_threads():
            torch.set_num_threads(want)
            self.store.update_info(self.run_id, {"threads": want})


def _fail(store: RunStore, run_id: str, message: str) -> None:
    try:
        store.fail(run_id, message)
    except MultilabelError as exc:  # the store cannot be written (a full disk): the message is in the run's
        # reserved error file (RunStore.fail), which readers show once this process has exited; the terminal too
        sys.stderr.write(f"multilabel: run {run_id} ended: {message} (the run store could not record it: {exc})\n")


def worker_nice() -> int:
    """The niceness workers add to their own: $MULTILABEL_WORKER_NICE (0-19) when set, else WORKER_NICE. A value
    that is not one is reported on stderr in one line and the default used: a run is not refused over its priority."""
    text = os.environ.get(NICE_ENV, "").strip()
    if not text:
        return WORKER_NICE
    try:
        value = int(text)
        if not 0 <= value <= 19:
            raise ValueError
    except ValueError:
        sys.stderr.write(f"multilabel: ${NICE_ENV}={text!r} is not a niceness from 0 to 19; workers use "
                         f"{WORKER_NICE}\n")
        return WORKER_NICE
    return value


def worker_main(home: str, run_id: str, config: TrainConfig, data: Dataset, threads: int,
                checkpoint_every: Optional[float] = None, share_cap: Optional[int] = None,
                share: bool = True, resume_from: Optional[str] = None, trackers: Any = None) -> None:
    """The worker process's entry point: own the run, train it with ``threads`` torch threads, then go on with the
    queue, exit.

    With ``share``, the threads follow the number of live runs (ThreadShare, at most ``share_cap``). The worker runs
    at nice WORKER_NICE, so the server and the browser get the CPU first when they need it. Exit code 0 when the
    run ended in any recorded state (completed, stopped, failed with a user's mistake), 1 on a bug (the traceback
    goes to stderr and the run is marked failed). ``trackers``: a tracking.TrackerSpec to log this run to as well
    (not the queued runs after it: the queue does not carry trackers).

    The queue: a run that ends on its own (completed or stopped early) hands the machine to the next
    queued run here, in this process (``start_queued``), so the queue goes on after the server that started it
    was restarted or killed, with no page open. A run that was stopped or failed ends the worker; the registry's
    queue thread then starts the next item, as it does when no run is live.
    """
    torch.set_num_threads(max(1, int(threads)))
    try:
        os.nice(worker_nice())
    except OSError:  # pragma: no cover - not permitted here: run at the parent's priority
        pass
    store = RunStore(home)
    try:
        while True:
            outcome = _own_and_train(store, run_id, config, data, checkpoint_every, share_cap, share, resume_from,
                                     trackers)
            if outcome not in ("completed", "early_stopped"):
                return
            data = None  # type: ignore[assignment]  # the finished run's rows are not kept while the next trains
            started = start_queued(store)
            if started is None:
                return
            run_id, config, data = started
            resume_from = None
            trackers = None
    finally:  # a bug propagates: multiprocessing prints its traceback and the exit code is 1
        store.close()


def _own_and_train(store: RunStore, run_id: str, config: TrainConfig, data: Dataset,
                   checkpoint_every: Optional[float], share_cap: Optional[int], share: bool,
                   resume_from: Optional[str], trackers: Any = None) -> Optional[str]:
    """Claim ``run_id`` for this process and train it; its outcome ('completed', ...) or None if it failed."""
    share_by = ThreadShare(store, run_id, share_cap, run_macs(config, data.num_rows)) if share else None
    stop = StopFlag(store, run_id, on_poll=share_by)
    # Handlers before claiming the run (a registry signals only a run's claimed owner), restored once it has ended.
    with stop.handling_signals():
        return _claim_and_train(store, run_id, config, data, stop, checkpoint_every, resume_from, trackers)


def _claim_and_train(store: RunStore, run_id: str, config: TrainConfig, data: Dataset, stop: StopFlag,
                     checkpoint_every: Optional[float], resume_from: Optional[str], trackers: Any) -> Optional[str]:
    try:
        store.claim(run_id)
    except MultilabelError as exc:  # a full disk before the first epoch: the registry's reap says it
        _fail(store, run_id, str(exc))
        return None
    resume = None
    if resume_from is not None:
        try:
            resume = load_resume_state(resume_from)
        except MultilabelError as exc:
            _fail(store, run_id, str(exc))
            return None
    pause = PauseFlag(store, run_id, epoch_done=resume.epoch if resume is not None else 0)
    logging_to = None
    if trackers:
        from .tracking import Trackers
        try:
            logging_to = Trackers.open(trackers, run_id, config, list(data.label_names), data.description,
                                       name=store.get_run(run_id)["name"])
        except MultilabelError as exc:
            _fail(store, run_id, str(exc))
            return None
    result = run_training(store, run_id, config, data, stop, checkpoint_every=checkpoint_every, pause=pause,
                          resume=resume, trackers=logging_to)
    if result is None or stop.is_set():
        return None
    return result.outcome


def queued_item(store: RunStore, item: dict[str, Any]) -> tuple[TrainConfig, Dataset]:
    """The config and rows of a claimed queue item (its arrays from queue/<id>.npz); MultilabelError if unusable."""
    import numpy as np

    from .engine import check_rows

    with np.load(store.queue_path(item["id"]), allow_pickle=False) as saved:
        data = Dataset(X=saved["X"], Y=saved["Y"], feature_names=[str(n) for n in saved["feature_names"]],
                       label_names=[str(n) for n in saved["label_names"]], description=item["data"])
    config = TrainConfig.from_dict(item["config"]).validate()
    check_rows(data)
    return config, data


def start_queued(store: RunStore) -> Optional[tuple[str, TrainConfig, Dataset]]:
    """Claim the first waiting queue item (when no run is live) and create its run, owned by this process:
    (run id, config, data), or None when there is nothing to start. An item that cannot start is marked failed
    with its reason, and the next one is tried."""
    while True:
        try:
            item = store.claim_next_queued()
        except Exception:  # a locked or full store: the registry's queue thread tries again later
            return None
        if item is None:
            return None
        try:
            config, data = queued_item(store, item)
            run_id = store.create_run(config.to_dict(), stored_description(data), name=item["name"],
                                      started_by=item["started_by"])
        except Exception as exc:  # a removed file, a config this version refuses: the item fails, the queue goes on
            message = str(exc) if isinstance(exc, MultilabelError) else f"{type(exc).__name__}: {exc}"
            try:
                store.queued_started(item["id"], error=message)
            except Exception:
                return None
            continue
        store.queued_started(item["id"], run_id=run_id)
        return run_id, config, data


def load_resume_state(path: str | os.PathLike) -> engine.ResumeState:
    """The resume state a finished run's checkpoint carries (``torch.load(weights_only=True)``)."""
    from .checkpoint import load_checkpoint

    trained = load_checkpoint(path)
    if not trained.resume:
        raise MultilabelError(f"the checkpoint {os.fspath(path)!r} has no resume state (a run killed before it "
                              "ended, or saved by an older version); it cannot be continued, train a new run")
    return engine.ResumeState.from_dict(trained.resume)


def prepare_continuation(store: RunStore, parent_id: str, more_epochs: int, data: Optional[Dataset] = None,
                         name: Optional[str] = None, started_by: Optional[str] = None
                         ) -> tuple[str, TrainConfig, Dataset, str]:
    """Create the run that continues ``parent_id`` for ``more_epochs`` epochs; (run id, config, data, checkpoint).

    The new run is a linked copy: its config is the parent's with ``epochs`` = the parent's epochs + more (an
    early-stopped parent's ``patience`` is turned off: it would stop again at once), its history starts with the
    parent's epochs, ``continued_from`` names the parent, and it trains from the parent's final resume state (last
    weights, optimizer state, random streams), so it ends with the same numbers as one uninterrupted run of that
    length. The parent is left as it was. ``data``: the rows the parent trained on; synthetic data is rebuilt from
    its description when not given. Raises MultilabelError (one line) for a run that cannot be continued.
    """
    from .data import make_synthetic
    from .engine import data_digest

    if more_epochs < 1:
        raise MultilabelError(f"continue needs at least 1 more epoch, got {more_epochs}")
    parent = store.get_run(parent_id)
    info = parent["info"] or {}
    checkpoint = parent["checkpoint"]
    if parent["status"] not in ("completed", "early_stopped", "stopped"):
        raise MultilabelError(f"run {parent_id} is {parent['status']}; only a finished or stopped run can be "
                              "continued")
    if "resumable" not in info or not checkpoint or not os.path.isfile(checkpoint):
        raise MultilabelError(f"run {parent_id} has no checkpoint with a resume state (saved by an older version, "
                              "or its checkpoint was removed); train a new run instead")
    described = parent["data"] or {}
    cfg = dict(parent["config"])
    if data is None:
        if described.get("source") != "synthetic":
            raise MultilabelError(f"run {parent_id} trained on {described.get('name', 'a CSV')!r}; give the same "
                                  "file to continue it (--data)")
        data = make_synthetic(int(described["rows"]), int(cfg["input_size"]), int(cfg["num_outputs"]),
                              noise=float(described.get("noise", 0.1)), seed=int(described.get("seed", 0)))
    if info.get("data_digest") and data_digest(data) != info["data_digest"]:
        raise MultilabelError(f"the data differs from the data run {parent_id} trained on; continue it on the same "
                              "rows and columns")
    load_resume_state(checkpoint)  # a damaged or foreign checkpoint is refused here, before the new run exists
    done = int(info["resumable"])
    changes: dict[str, Any] = {"epochs": done + int(more_epochs)}
    if parent["status"] == "early_stopped" and cfg.get("patience"):
        changes["patience"] = 0
    config = TrainConfig.from_dict({**cfg, **changes}).validate()
    run_id = store.create_run(config.to_dict(), stored_description(data), name=name, started_by=started_by)
    store.link_continuation(run_id, parent_id)
    if "patience" in changes:
        store.add_note(run_id, f"early stopping is off: run {parent_id} stopped early at epoch {done}")
    return run_id, config, data, checkpoint


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_for(live_runs: int, cap: Optional[int] = None, macs_per_step: Optional[int] = None) -> int:
    """Torch threads for a run started while ``live_runs`` runs (itself included) are live.

    max(1, cores // live_runs): together the live runs use the machine's cores without oversubscribing them
    (runs started earlier keep the share they got). ``cap`` (e.g. from $OMP_NUM_THREADS) bounds it, and so does
    ``macs_per_step`` (run_macs): threads.threads_worth, one per threads.MACS_PER_THREAD multiply-adds of a step.
    """
    threads = max(1, cpu_cores() // max(1, live_runs))
    if macs_per_step is not None:
        threads = min(threads, threads_worth(macs_per_step))
    return min(threads, cap) if cap else threads


def env_thread_cap() -> Optional[int]:
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None

