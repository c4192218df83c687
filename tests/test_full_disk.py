"""A run store on a disk that fills while a run trains: the person is told the disk is full, by
the CLI (one line, exit 2) and by the run's stored view (what Runs, Train and ``runs`` show), even though the store
itself cannot take the message.

The disk is real: a small tmpfs mounted for the test (root only; elsewhere the tests are skipped), filled up to a
few dozen KiB before the run starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from multilabel import TrainConfig, make_synthetic
from multilabel.session import SessionRegistry
from multilabel.store import RunStore

REPO = Path(__file__).resolve().parents[1]
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as conftest sets for this process

FREE_KIB = 96  # left free once the store exists: enough to create a run, not to train it for long


@pytest.fixture
def small_disk(tmpfs) -> Path:
    return tmpfs("4m")


def fill(disk: Path, free_kib: int = FREE_KIB) -> None:
    """Fill ``disk`` until it refuses a byte more, then give back ``free_kib`` KiB."""
    slack = disk / "slack"
    slack.write_bytes(b"\0" * free_kib * 1024)
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    slack.unlink()


@pytest.mark.slow
def test_cli_train_on_a_disk_that_fills_says_so(small_disk):
    home = small_disk / "home"
    RunStore(home).close()
    fill(small_disk)
    done = subprocess.run([sys.executable, "-m", "multilabel", "train", "--store", str(home), "--synthetic",
                           "--samples", "300", "--epochs", "3000", "--patience", "0", "--quiet"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **SINGLE_THREAD_ENV})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert lines and lines[-1].startswith("error: ") and "None" not in lines[-1], done.stderr
    assert "full" in lines[-1] or "No space" in lines[-1], done.stderr
    assert "Traceback" not in done.stderr
    # The run is listed, and its error names the disk although the store could not record it.
    listed = subprocess.run([sys.executable, "-m", "multilabel", "runs", "--store", str(home), "--json"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    runs = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(runs) == 1 and runs[0]["status"] in ("failed", "interrupted")
    assert "full" in runs[0]["error"] or "No space" in runs[0]["error"], runs[0]
    assert runs[0]["epochs_done"] >= 1  # the epochs logged before the disk filled are kept


def test_dashboard_run_on_a_disk_that_fills_says_so(small_disk):
    """The registry (the server's side): the worker cannot record its end, the reap does not raise, and the view
    names the disk instead of 'killed?'."""
    home = small_disk / "home"
    registry = SessionRegistry(RunStore(home))
    fill(small_disk)
    config = TrainConfig(input_size=10, hidden_size=32, num_outputs=5, epochs=3000, patience=0).validate()
    session = registry.start(config, make_synthetic(300, 10, 5, seed=0))
    assert session.join(timeout=240), "the worker did not end on a full disk"
    view = session.view()  # reaps the worker; a full store must not raise here
    assert view.status in ("failed", "interrupted")
    assert view.error and ("full" in view.error or "No space" in view.error), view.error
    assert "killed?" not in view.error
    registry.store.close()
