"""Runs in worker processes: real child processes, a real SQLite store, real signals (kill -9 included); no mocks.

Deadlines here are safety nets for a child that never gets going, never speed checks.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from torch import nn

from multilabel import Dataset, load_checkpoint, make_synthetic, train
from multilabel import threads, worker
from multilabel.engine import split_indices
from multilabel.session import SHUTDOWN_BY, SessionRegistry
from multilabel.jobs import owner_pid
from multilabel.store import RunStore

REPO = Path(__file__).resolve().parents[1]
from pagetest import WAIT_S, kill_live_workers, wait_for


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # an orphan that exited but was not reaped by its new parent counts as gone
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True


def val_loss_of(trained, data: Dataset, config) -> float:
    _, val_idx = split_indices(data.num_rows, config.val_fraction, config.seed)
    with torch.no_grad():
        logits = trained.model(torch.from_numpy(trained.standardizer.transform(data.X[val_idx])))
        return nn.BCEWithLogitsLoss()(logits, torch.from_numpy(data.Y[val_idx])).item()


def test_a_run_trains_in_a_worker_process_and_its_record_and_checkpoint_match(registry, store, small_data,
                                                                              make_config):
    config = make_config(epochs=4)
    session = registry.start(config, small_data, name="in a worker")
    assert session.process is not None and session.process.pid != os.getpid()
    assert session.join(timeout=WAIT_S)
    assert session.process.exitcode == 0

    view = registry.view(session.run_id)
    run = store.get_run(session.run_id)
    assert view.status == run["status"] == "completed" and view.epoch == run["epochs_done"] == 4
    assert not view.alive and not registry.is_live(session.run_id) and view.error is None
    assert owner_pid(run["owner"]) == session.process.pid  # the worker owned the run, not this process
    assert view.info["n_val"] == 80 and view.info["threads"] == 1
    assert [r["epoch"] for r in view.history] == [1, 2, 3, 4]
    assert view.checkpoint == run["checkpoint"] == str(store.checkpoint_path(session.run_id))
    loaded = load_checkpoint(view.checkpoint)
    assert loaded.run_id == session.run_id and loaded.thresholds == view.best["thresholds"]
    assert val_loss_of(loaded, small_data, config) == pytest.approx(view.best["val_loss"], abs=1e-5)


def test_a_worker_started_during_a_page_run_does_not_run_the_page(registry, small_data, make_config, tmp_path,
                                                                 monkeypatch):
    """Streamlit makes the page script ``__main__`` while it runs; a worker started then (Start) must not import it
    as ``__mp_main__``: it printed 62 'missing ScriptRunContext!' lines per Start and started a forkserver."""
    import types

    marker = tmp_path / "page-ran"
    page = tmp_path / "page.py"
    page.write_text(f"open({str(marker)!r}, 'w').close()\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__, fake_main.__spec__ = str(page), None
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    session = registry.start(make_config(epochs=2), small_data)
    assert session.join(timeout=WAIT_S) and session.process.exitcode == 0
    assert registry.view(session.run_id).status == "completed"
    assert not marker.exists(), "the worker ran the script that was __main__ when it started"


def test_same_seed_in_two_concurrent_workers_gives_the_in_process_numbers(registry, small_data, make_config):
    config = make_config(epochs=8)
    other = make_config(epochs=8, seed=3)
    a, b = registry.start(config, small_data), registry.start(other, small_data)
    assert a.join(timeout=WAIT_S) and b.join(timeout=WAIT_S)
    torch.set_num_threads(1)
    expected_a, expected_b = train(config, small_data), train(other, small_data)  # no thread, this process
    for session, expected in ((a, expected_a), (b, expected_b)):
        view = registry.view(session.run_id)
        assert view.status == "completed"
        assert [r["train_loss"] for r in view.history] == [r["train_loss"] for r in expected.history]
        assert [r["val_loss"] for r in view.history] == [r["val_loss"] for r in expected.history]
        assert view.best["micro_f1"] == expected.best["micro_f1"]
    assert registry.view(a.run_id).history[-1]["val_loss"] != registry.view(b.run_id).history[-1]["val_loss"]


def test_stop_mid_run_ends_stopped_with_the_best_weights(registry, store, small_data, make_config):
    config = make_config(epochs=100_000, learning_rate=3e-2)
    session = registry.start(config, small_data)
    wait_for(lambda: registry.view(session.run_id).epoch >= 3, "three epochs")
    registry.stop(session.run_id)
    assert session.join(timeout=WAIT_S)

    view = registry.view(session.run_id)
    assert view.status == "stopped" and 3 <= view.epoch < config.epochs and not view.stopping
    best = min(view.history, key=lambda r: r["val_loss"])
    assert view.best["epoch"] == best["epoch"]
    loaded = load_checkpoint(view.checkpoint)
    assert val_loss_of(loaded, small_data, config) == pytest.approx(best["val_loss"], abs=1e-5)


def test_a_stop_asked_before_the_worker_is_ready_still_arrives(registry, small_data, make_config):
    session = registry.start(make_config(epochs=100_000), small_data)
    registry.stop(session.run_id)  # at once: the worker may not have claimed the run or installed its handlers
    assert session.join(timeout=WAIT_S)
    assert session.process.exitcode == 0
    assert registry.view(session.run_id).status == "stopped"


def test_progress_inside_a_long_epoch_and_a_stop_that_ends_it_early(registry, make_config):
    data = make_synthetic(200_000, 6, 3, seed=1)  # 20,000 steps of 8 rows: an epoch of seconds
    session = registry.start(make_config(epochs=5, batch_size=8), data)
    progress = wait_for(lambda: registry.view(session.run_id).progress, "progress inside epoch 1")
    assert progress["epoch"] == 1 and 0 < progress["step"] < progress["steps"] == 20_000
    registry.stop(session.run_id)
    assert registry.view(session.run_id).stopping or not registry.is_live(session.run_id)
    assert session.join(timeout=WAIT_S)
    view = registry.view(session.run_id)
    assert view.status == "stopped" and view.epoch == 1 and view.history[-1].get("partial") is True
    assert view.progress is None and view.checkpoint is not None


def test_kill_9_of_a_worker_leaves_the_run_interrupted_with_its_epochs_and_checkpoint(store, small_data,
                                                                                      make_config):
    registry = SessionRegistry(store, threads_per_run=1, checkpoint_every_s=0.2)
    session = registry.start(make_config(epochs=100_000, patience=0), small_data)
    wait_for(lambda: store.get_run(session.run_id)["checkpoint"] and registry.view(session.run_id).epoch >= 3,
             "a live checkpoint and three epochs")
    os.kill(session.process.pid, signal.SIGKILL)
    session.process.join(timeout=WAIT_S)
    wait_for(lambda: pid_gone(session.process.pid), "the killed worker to be gone")

    elsewhere = RunStore(store.home)  # another process's reading: from the store alone
    run = elsewhere.get_run(session.run_id)
    assert run["status"] == "interrupted" and "ended without finishing" in run["error"]
    history = elsewhere.history(session.run_id)
    assert [r["epoch"] for r in history] == list(range(1, run["epochs_done"] + 1)) and run["epochs_done"] >= 3
    trained = load_checkpoint(run["checkpoint"])
    assert trained.run_id == session.run_id
    assert trained.metrics["epoch"] <= run["epochs_done"]
    assert trained.predict_proba(small_data.X[:5]).shape == (5, 3)
    elsewhere.close()

    view = registry.view(session.run_id)  # the registry that started it also says how it ended
    assert view.status == "interrupted" and not view.alive and "killed by SIGKILL" in view.error
    assert view.checkpoint == run["checkpoint"]


def test_a_failing_run_is_marked_failed_by_its_worker(registry, small_data, make_config):
    X = small_data.X.copy()
    X[:, 0] = 3e38
    X[::10, 0] = -3e38  # overflows when centred: the loss is NaN in epoch 1
    data = Dataset(X, small_data.Y, small_data.feature_names, small_data.label_names)
    session = registry.start(make_config(), data)
    assert session.join(timeout=WAIT_S)
    assert session.process.exitcode == 0  # a user's mistake is a recorded outcome, not a crash
    view = registry.view(session.run_id)
    assert view.status == "failed" and view.error.startswith("training diverged at epoch 1")


SERVER = textwrap.dedent("""
    import sys, time
    from multilabel import TrainConfig, make_synthetic
    from multilabel.session import SessionRegistry
    from multilabel.store import RunStore

    registry = SessionRegistry(RunStore(sys.argv[1]), threads_per_run=1)
    config = TrainConfig(input_size=6, hidden_size=16, num_outputs=3, epochs=100_000, batch_size=32, device="cpu",
                         patience=0, learning_rate=1e-2)
    session = registry.start(config, make_synthetic(400, 6, 3, noise=0.1, seed=7), started_by="server")
    print(session.run_id, session.process.pid, flush=True)
    time.sleep(3600)
""")


@pytest.mark.slow
def test_after_kill_9_of_the_server_its_worker_goes_on_and_a_new_registry_attaches_and_stops_it(store_home):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MULTILABEL_CHECKPOINT_EVERY_S": "0.2"}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(store_home)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    store = RunStore(store_home)
    worker_pid = None
    try:
        run_id, worker_pid = server.stdout.readline().split()
        worker_pid = int(worker_pid)
        wait_for(lambda: store.get_run(run_id)["epochs_done"] >= 2, "two epochs")
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=WAIT_S)

        # The worker was not the server's: it keeps training and writing the store.
        epochs = store.get_run(run_id)["epochs_done"]
        wait_for(lambda: store.get_run(run_id)["epochs_done"] > epochs + 2, "epochs after the server died")
        restarted = SessionRegistry(RunStore(store_home))  # what a restarted server builds
        view = restarted.view(run_id)
        assert restarted.is_live(run_id) and view.alive and view.status == "running"
        assert owner_pid(store.get_run(run_id)["owner"]) == worker_pid
        handle = restarted.get(run_id)
        assert handle is not None and handle.running

        restarted.stop(run_id, by="restarted server")
        assert handle.join(timeout=WAIT_S)
        wait_for(lambda: pid_gone(worker_pid), "the worker to exit")
        run = store.get_run(run_id)
        assert run["status"] == "stopped" and run["finished_at"] is not None
        assert [r["epoch"] for r in store.history(run_id)] == list(range(1, run["epochs_done"] + 1))
        assert load_checkpoint(run["checkpoint"]).run_id == run_id
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()
        if worker_pid is not None and not pid_gone(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
        store.close()


def test_threads_share_the_cores_among_live_runs(monkeypatch):
    monkeypatch.setattr(worker, "cpu_cores", lambda: 8)
    assert [worker.threads_for(n) for n in (1, 2, 3, 4, 8, 9)] == [8, 4, 2, 2, 1, 1]
    assert worker.threads_for(1, cap=3) == 3 and worker.threads_for(4, cap=3) == 2
    # A step too small to split: one thread per MACS_PER_THREAD multiply-adds, at least one.
    per = threads.MACS_PER_THREAD
    assert [worker.threads_for(1, macs_per_step=m) for m in (0, per - 1, per, 3 * per, 100 * per)] == [1, 1, 1, 3, 8]
    assert worker.threads_for(4, macs_per_step=100 * per) == 2 and worker.threads_for(1, 2, 100 * per) == 2


def test_worker_niceness_comes_from_the_environment_and_a_bad_value_falls_back_in_one_line(monkeypatch, capsys):
    monkeypatch.delenv(worker.NICE_ENV, raising=False)
    assert worker.worker_nice() == worker.WORKER_NICE
    monkeypatch.setenv(worker.NICE_ENV, " 12 ")
    assert worker.worker_nice() == 12
    for bad in ("high", "-3", "20"):
        monkeypatch.setenv(worker.NICE_ENV, bad)
        assert worker.worker_nice() == worker.WORKER_NICE
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"${worker.NICE_ENV}='{bad}' is not a niceness from 0 to 19" in err


def test_a_worker_trains_below_the_priority_of_the_process_that_started_it(registry, store, small_data,
                                                                           make_config):
    session = registry.start(make_config(epochs=10_000), small_data, name="niced")
    try:
        wait_for(lambda: store.get_run(session.run_id)["epochs_done"] >= 1, "the first epoch")
        assert psutil.Process(session.process.pid).nice() == min(19, os.nice(0) + worker.worker_nice())
    finally:
        registry.stop(session.run_id)
        assert session.join(timeout=WAIT_S)


@pytest.mark.slow
def test_ctrl_c_on_the_server_stops_its_workers_and_they_save_their_best_weights(store_home):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(store_home)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # `cmd &` ignores it
    store = RunStore(store_home)
    worker_pid = None
    try:
        run_id, worker_pid = server.stdout.readline().split()
        worker_pid = int(worker_pid)
        wait_for(lambda: store.get_run(run_id)["epochs_done"] >= 2, "two epochs")
        server.send_signal(signal.SIGINT)  # the server exits; its atexit hook stops the run and waits for it
        _, err = server.communicate(timeout=WAIT_S)
        assert "KeyboardInterrupt" in err  # the sleeping script was interrupted, as a server is by Ctrl-C
        assert pid_gone(worker_pid)
        run = store.get_run(run_id)
        assert run["status"] == "stopped" and run["error"] is None
        assert load_checkpoint(run["checkpoint"]).metrics["epoch"] == run["best"]["epoch"]
        # Nobody pressed Stop: the run says who stopped it (a page read "Stop ended the refit…").
        assert [n["text"] for n in run["notes"]] == [f"stopped by {SHUTDOWN_BY}"]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if worker_pid is not None and not pid_gone(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
        store.close()


@pytest.mark.slow
def test_a_cli_run_can_be_stopped_from_a_registry_in_another_process(store_home, spawn_cli):
    child = spawn_cli("train", "--synthetic", "--samples", "500", "--epochs", "100000", "--patience", "0",
                      "--quiet", "--store", store_home)
    wait_for(lambda: (store_home / "runs.db").exists(), "the CLI's run store")
    store = RunStore(store_home)
    try:
        run_id = wait_for(lambda: next((r["id"] for r in store.list_runs() if r["epochs_done"] >= 2), None),
                          "two epochs of the CLI run")
        registry = SessionRegistry(store)
        assert registry.is_live(run_id) and registry.view(run_id).started_by.startswith("CLI")
        registry.stop(run_id, by="browser session abc")  # SIGTERM to the CLI, which owns its run
        assert child.wait(timeout=WAIT_S) == 0, child.stderr.read().decode()
        run = store.get_run(run_id)
        assert run["status"] == "stopped" and [n["text"] for n in run["notes"]] == ["stopped by browser session abc"]
        assert load_checkpoint(run["checkpoint"]).run_id == run_id
    finally:
        store.close()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")
def test_a_cuda_run_trains_in_a_worker_as_it_does_in_process(registry, store, small_data, make_config):
    """The forkserver never initializes CUDA, so its children can (a fork of a CUDA process could not)."""
    config = make_config(epochs=6, device="cuda", batch_size=64)
    session = registry.start(config, small_data)
    assert session.join(timeout=WAIT_S) and session.process.exitcode == 0
    view = registry.view(session.run_id)
    assert view.status == "completed", view.error
    assert view.info["device"].startswith("cuda")
    expected = train(config, small_data)
    np.testing.assert_allclose([r["val_loss"] for r in view.history], [r["val_loss"] for r in expected.history],
                               rtol=1e-5, atol=1e-6)
    assert load_checkpoint(view.checkpoint).predict_proba(small_data.X[:4]).shape == (4, 3)


@pytest.mark.skipif(worker.cpu_cores() < 2, reason="sharing cores needs at least 2")
def test_live_runs_share_the_cores_and_a_run_alone_takes_them_back(store, small_data, make_config, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS")  # no cap: each worker takes its share of this machine's cores
    cores = worker.cpu_cores()
    registry = SessionRegistry(store)
    # A net wide enough that a step of it splits over every core (threads.MACS_PER_THREAD per thread).
    hidden = -(-cores * threads.MACS_PER_THREAD // (320 * (6 + 3)))
    make_config = functools.partial(make_config, hidden_size=hidden, batch_size=320)
    assert threads.run_macs(make_config(), small_data.num_rows) >= cores * threads.MACS_PER_THREAD
    first = registry.start(make_config(epochs=100_000), small_data)
    try:
        wait_for(lambda: registry.view(first.run_id).info.get("threads") == cores, "the first run to take every core")
        second = registry.start(make_config(epochs=100_000, seed=1), small_data)
        wait_for(lambda: registry.view(second.run_id).info.get("threads") == max(1, cores // 2), "the second run")
        wait_for(lambda: registry.view(first.run_id).info.get("threads") == max(1, cores // 2),
                 "the first run to give up half its threads")
        registry.stop(second.run_id)
        assert second.join(timeout=WAIT_S)
        wait_for(lambda: registry.view(first.run_id).info.get("threads") == cores, "the first run to take them back")
    finally:
        registry.stop(first.run_id)
        assert first.join(timeout=WAIT_S)
        kill_live_workers(store)
    assert registry.view(first.run_id).status == "stopped"


def test_stop_flag_signal_handlers_compose_with_the_previous_ones_and_are_restored_on_exit():
    seen = []

    def earlier(signum, frame):  # a handler the process had before (a tracker flushing its files, say)
        seen.append(("earlier", signum))

    before = signal.signal(signal.SIGTERM, earlier)
    # Python's own Ctrl-C handler, whatever this process inherited (`cmd &` in a shell starts it with SIGINT ignored).
    before_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        flag = worker.StopFlag()
        with flag.handling_signals(on_signal=lambda signum: seen.append(("on_signal", signum))):
            assert signal.getsignal(signal.SIGTERM) is not earlier
            os.kill(os.getpid(), signal.SIGTERM)
            assert flag.is_set() and flag.signalled == signal.SIGTERM
            assert seen == [("on_signal", signal.SIGTERM), ("earlier", signal.SIGTERM)]
            with pytest.raises(KeyboardInterrupt):  # a SIGINT once the flag is set interrupts (Ctrl-C twice)
                os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with worker.StopFlag().handling_signals() as by_ctrl_c:
            os.kill(os.getpid(), signal.SIGINT)  # Python's own SIGINT handler, which would interrupt at once, is
            assert by_ctrl_c.is_set()  # not composed: the first Ctrl-C only asks the run to stop
        assert signal.getsignal(signal.SIGTERM) is earlier
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        with pytest.raises(RuntimeError), worker.StopFlag().handling_signals():
            raise RuntimeError("a run that fails")
        assert signal.getsignal(signal.SIGTERM) is earlier  # restored however the block ends
    finally:
        signal.signal(signal.SIGTERM, before)
        signal.signal(signal.SIGINT, before_int)
