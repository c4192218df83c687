"""A run store on a read-only disk: ``runs`` still lists it; ``search`` and ``train`` say in one
line that the folder cannot be written, not SQLAlchemy's words. The disk is a real tmpfs remounted read-only (root
only; elsewhere the tests are skipped). Root ignores file permissions, so a chmod would not make a store read-only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

EMOTIONS_CSV = Path(__file__).resolve().parent / "data" / "emotions.csv"


@pytest.fixture
def disk(tmpfs) -> Path:
    return tmpfs("16m")


def read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)


@pytest.mark.slow
def test_runs_lists_a_read_only_store_and_search_train_say_why(disk, cli):
    home = disk / "home"
    done = cli("train", "--store", home, "--synthetic", "--samples", "200", "--epochs", "3", "--quiet")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    read_only(disk)

    listed = cli("runs", "--store", home, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [run_id]
    listed = cli("runs", "--store", home)
    assert listed.returncode == 0 and run_id in listed.stdout, listed.stderr

    for args in (("search", "--store", home, "--data", EMOTIONS_CSV, "--labels", "amazed-suprised,happy-pleased",
                  "--trials", "1", "--quiet"),
                 ("train", "--store", home, "--synthetic", "--samples", "200", "--epochs", "3", "--quiet")):
        done = cli(*args)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert "not writable" in lines[0] and "SQLAlchemy" not in lines[0], lines[0]


@pytest.mark.slow
def test_search_with_a_read_only_storage_file_says_read_only(disk, cli, store_home):
    storage = disk / "study.db"
    done = cli("search", "--storage", f"sqlite:///{storage}", "--data", EMOTIONS_CSV, "--labels",
               "amazed-suprised,happy-pleased", "--trials", "0", "--members", "0", "--quiet")
    assert done.returncode == 0, done.stderr
    read_only(disk)
    done = cli("search", "--storage", f"sqlite:///{storage}", "--data", EMOTIONS_CSV, "--labels",
               "amazed-suprised,happy-pleased", "--trials", "1", "--quiet")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "read-only" in lines[0] and "SQLAlchemy URL" not in lines[0], lines[0]
