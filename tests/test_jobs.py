"""Background processes (multilabel.jobs): liveness tokens on real processes, the command lines other processes get
(each parsed back by the real CLI parser), and a real background search followed and stopped."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from multilabel import TrainConfig, jobs, load_checkpoint, make_synthetic, search
from multilabel.cli import _config_from_args, build_parser
from multilabel.errors import MultilabelError


@pytest.fixture
def tiny():
    return make_synthetic(240, 6, 3, noise=0.1, seed=3)


def _wait(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds  # a safety net, not a speed check
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# ---- liveness -------------------------------------------------------------------------------------------------------

def test_a_token_names_a_live_process_and_not_a_reused_pid_or_a_finished_one():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        token = jobs.process_token(child.pid)
        assert jobs.owner_pid(token) == child.pid and jobs.owner_alive(token)
        assert jobs.process_token(child.pid) == token  # the same in every reading
        started = float(token.split(":")[1])
        assert not jobs.owner_alive(f"{child.pid}:{started + 5:.2f}")  # same pid, another start: a reused pid
        # psutil's start time moves with the boot time it re-reads (a stepped clock moves it by whole seconds): a
        # live owner read a second off is still alive (an exact match once called a running search dead).
        assert jobs.owner_alive(f"{child.pid}:{started + 1:.2f}") and jobs.owner_alive(f"{child.pid}:{started - 1:.2f}")
        assert not jobs.owner_alive(f"{child.pid}:not-a-time")
        assert jobs.owner_alive(f"{child.pid}:?")  # start time unknown: the pid alone decides
    finally:
        child.kill()
        child.wait()
    assert not jobs.owner_alive(token)
    assert not jobs.owner_alive(None) and not jobs.owner_alive("garbage") and jobs.owner_pid("x:1") is None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="tokens before psutil were read from Linux /proc")
def test_a_token_written_before_psutil_still_names_its_live_worker():
    # Runs stored by the previous release name their owner 'pid:start ticks' from /proc: a worker that trains across
    # the upgrade (the server restarted on the new code) must still read as alive, and a reused pid must not.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ticks = int(Path(f"/proc/{child.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[19])
        assert jobs.owner_alive(f"{child.pid}:{ticks}")
        assert not jobs.owner_alive(f"{child.pid}:{ticks + 500}")
    finally:
        child.kill()
        child.wait()
    assert not jobs.owner_alive(f"{child.pid}:{ticks}")


def test_an_exited_unreaped_process_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        token = jobs.process_token(child.pid)
        _wait(lambda: not jobs.owner_alive(token), "the child never exited")
        assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE  # exited, not reaped: not alive
    finally:
        child.wait()


def test_interrupt_reaches_the_process_and_its_children_as_ctrl_c():
    # Each process sets Python's Ctrl-C handler itself (a shell's background job inherits SIGINT ignored) and says
    # so from inside its try block, so the interrupt cannot come before the handler, however slow the machine.
    kid_code = ("import signal, time\n"
                "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                "try:\n    print('ready', flush=True)\n    time.sleep(60)\n"
                "except KeyboardInterrupt:\n    raise SystemExit(7)\n")
    code = ("import signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            f"kid = subprocess.Popen([sys.executable, '-c', {kid_code!r}], stdout=subprocess.PIPE, text=True)\n"
            "kid.stdout.readline()\n"
            "try:\n    print(kid.pid, flush=True)\n    time.sleep(60)\n"
            "except KeyboardInterrupt:\n    sys.exit(kid.wait())\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        kid = int(parent.stdout.readline())
        assert jobs.child_pids(parent.pid) == [kid]
        assert jobs.interrupt(parent.pid) is True
        assert parent.wait(timeout=30) == 7  # the child got SIGINT too and exited through its handler
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert jobs.child_pids(parent.pid) == [] and jobs.interrupt(parent.pid) is False


# ---- command lines --------------------------------------------------------------------------------------------------

def test_the_train_command_for_a_config_parses_back_to_that_config():
    config = TrainConfig(input_size=72, num_outputs=6, hidden_size=256, learning_rate=2e-3, dropout=0.3,
                         lr_schedule="cosine", seed=5).validate()
    line = jobs.train_command(config, {"source": "csv", "name": "my songs.csv",
                                       "labels": ["amazed-suprised", "happy-pleased"]})
    words = shlex.split(line)
    assert words[:4] == ["python", "-m", "multilabel", "train"]
    assert words[words.index("--data") + 1] == "my songs.csv"
    assert words[words.index("--labels") + 1] == "amazed-suprised,happy-pleased"
    # a command-line run keeps its file's path: its command line names the file it read
    kept = jobs.train_command(config, {"source": "csv", "name": "e.csv", "path": "/data/e.csv", "labels": ["a"]})
    assert shlex.split(kept)[shlex.split(kept).index("--data") + 1] == "/data/e.csv"
    args = build_parser().parse_args(words[3:])
    assert _config_from_args(args, 72, 6) == config

    synthetic = TrainConfig(input_size=20, num_outputs=4, epochs=50).validate()
    words = shlex.split(jobs.train_command(synthetic, {"source": "synthetic", "rows": 5000, "noise": 0.2, "seed": 0},
                                           store="/tmp/my runs"))
    args = build_parser().parse_args(words[3:])
    assert args.synthetic and args.samples == 5000 and args.noise == 0.2 and args.store == "/tmp/my runs"
    assert _config_from_args(args, 20, 4) == synthetic


def _parsed(argv: list[str]):
    assert argv[:4] == [sys.executable, "-m", "multilabel", "search"]
    return build_parser().parse_args(argv[3:])


def test_every_search_command_line_parses_back_with_the_cli_parser(tiny, store_home, monkeypatch):
    started: list[list[str]] = []

    def record(argv, log=None, append=False, env=None):  # the argv each builder would start, no process
        started.append(list(argv))
        return subprocess.Popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(jobs, "start", record)
    # the page's background search
    job = jobs.start_background(tiny, "bg", home=store_home, trials=7, timeout=30.0, folds=2, jobs=2, members=3,
                                out=store_home / "bg.pt", epochs=9, seeds=2)
    args = _parsed(started[-1])
    assert (args.data, args.labels, args.storage, args.study) == (str(job.data_csv), "label_0,label_1,label_2",
                                                                  job.storage, "bg")
    assert (args.trials, args.timeout, args.folds, args.jobs, args.members, args.out, args.epochs, args.seeds,
            args.quiet) == (7, 30.0, 2, 2, 3, str(store_home / "bg.pt"), 9, 2, True)
    # the CLI's --jobs helpers: one per share that is not 0, each its own sampler seed, no ensemble
    shares = jobs.split_trials(5, 3)
    assert shares == [2, 2, 1] and jobs.split_trials(1, 3) == [1, 0, 0] and jobs.split_trials(None, 2) == [None] * 2
    jobs.start_search_helpers("d.csv", "y*", "sqlite:///s.db", "st", [2, 0, None], jobs=4, folds=5, timeout=9.5,
                              epochs=3, objective="mix", seed=10)
    helper_args = [_parsed(argv) for argv in started[-2:]]
    assert [(a.trials, a.seed) for a in helper_args] == [(2, 11), (None, 13)]
    assert all((a.data, a.labels, a.storage, a.study, a.folds, a.members, a.timeout, a.epochs, a.objective) ==
               ("d.csv", "y*", "sqlite:///s.db", "st", 5, 0, 9.5, 3, "mix") for a in helper_args)
    # the page's Rebuild of an ended search's ensemble
    record_job = {"study": "bg", "storage": job.storage, "token": "1:?", "checkpoint": str(store_home / "bg.pt"),
                  "log": str(job.log), "data_csv": str(job.data_csv), "labels": list(tiny.label_names), "seeds": 2}
    monkeypatch.setattr(jobs, "find_job", lambda study, home=None: {**record_job, "alive": False})
    jobs.rebuild("bg", 4, store_home, seeds=1)
    args = _parsed(started[-1])
    assert (args.trials, args.members, args.seeds, args.out, args.study) == (0, 4, 1, str(store_home / "bg.pt"), "bg")


def test_search_workers_share_the_cores_as_torch_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert jobs.search_env(2)["OMP_NUM_THREADS"] == "4" and jobs.search_env(16)["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in jobs.search_env(1)  # one worker: torch's own choice
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert jobs.search_env(2)["OMP_NUM_THREADS"] == "3"  # the caller's setting wins


# ---- a real background search -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_background_search_can_be_followed_and_stopped_like_ctrl_c(tiny, tmp_path, store_home):
    out = tmp_path / "bg.pt"
    job = jobs.start_background(tiny, "bg", home=store_home, trials=1000, folds=1, members=2, out=out, epochs=4)
    try:
        deadline = time.monotonic() + 120
        summary = None
        while time.monotonic() < deadline and job.alive():
            time.sleep(0.5)
            try:
                summary = search.study_summary(job.storage, "bg")
            except MultilabelError:
                continue  # the process has not created the study yet
            if summary["states"].get("COMPLETE", 0) >= 2:
                break
        assert summary is not None and summary["states"].get("COMPLETE", 0) >= 2 and job.result() is None
        job.stop()
        job.process.wait(timeout=120)
    finally:
        if job.alive():
            job.process.kill()
            job.process.wait()
    result = job.result()
    assert result["interrupted"] is True and result["checkpoint"] == str(out)
    assert len(load_checkpoint(out).nets) == 2 * search.ENSEMBLE_SEEDS


def test_a_job_file_is_written_whole_and_a_dead_job_reads_died(tiny, store_home):
    folder = jobs.search_folder(store_home)
    folder.mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    token = jobs.process_token(child.pid)
    child.wait()
    jobs._write_job(folder / f"gone{jobs.JOB_SUFFIX}", {"study": "gone", "token": token, "log": str(folder / "x.log"),
                                                       "checkpoint": str(folder / "gone.pt")})
    assert [p.name for p in folder.iterdir()] == [f"gone{jobs.JOB_SUFFIX}"]  # no temporary file left beside it
    job = jobs.find_job("gone", store_home)
    assert not job["alive"] and job["outcome"] == "died" and job["ensemble"] is None
    assert jobs.stop_job("gone", store_home) is False
    summary = {"states": {"RUNNING": 1, "COMPLETE": 2}, "trials": [{"state": "RUNNING"}, {"state": "COMPLETE"}]}
    settled = jobs.settle(summary, job)
    assert settled["states"] == {"COMPLETE": 2, "DIED": 1} and settled["trials"][0]["state"] == "DIED"
    assert jobs.settle(summary, {**job, "alive": True}) is summary
    assert [j["study"] for j in jobs.list_jobs(store_home)] == ["gone"]
    with pytest.raises(MultilabelError, match="not usable"):
        jobs.check_study_name("../x")
    assert jobs.next_study_name(store_home) == "search-1"
