"""Seeded fixtures shared by the core library's tests: small data, a trained model, a run store, CSV files, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Union

import pytest
import torch

from multilabel import Dataset, TrainConfig, TrainedModel, make_synthetic, train
from multilabel.store import HOME_ENV, RunStore

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(__file__).resolve().parent / "data"
EMOTIONS_CSV = DATA_DIR / "emotions.csv"  # in the repository: tests read nothing outside the repository (tests/data/README.md)
EMOTION_LABELS = ["amazed-suprised", "happy-pleased", "relaxing-calm", "quiet-still", "sad-lonely", "angry-aggresive"]
CLI_TIMEOUT_S = 180  # a safety net for a hung child, not a speed check
# These nets are tiny: a second intra-op thread gains nothing, and on a 2-core machine shared with other work it
# made a 40-epoch run 10x slower (18 s against 1.6 s, measured). Child processes get the same setting.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
torch.set_num_threads(1)
# Worker processes started by a registry in this process take their thread cap from here (worker.env_thread_cap).
os.environ.update(SINGLE_THREAD_ENV)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test is also slow: ``pytest -m "not slow"`` is the quick loop (under 3 minutes on 2 cores)."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


def _small_config(**changes) -> TrainConfig:
    # Optimizer, weight decay and dropout pinned: the tests' small nets do not follow the shipped defaults. No refit:
    # these tests compare a run's checkpoint with its own best epoch (tests/test_search.py covers refit="all").
    base = dict(input_size=6, hidden_size=16, num_outputs=3, epochs=5, batch_size=32, learning_rate=1e-2,
                device="cpu", patience=0, seed=0, optimizer="adam", weight_decay=1e-4, dropout=0.0, refit="none")
    return TrainConfig(**{**base, **changes}).validate()


@pytest.fixture
def make_config() -> Callable[..., TrainConfig]:
    """``make_config(**changes)``: a validated config that fits ``small_data`` (6 -> 16 -> 3, 5 epochs, CPU)."""
    return _small_config


@pytest.fixture
def small_data() -> Dataset:
    """400 rows, 6 features, 3 correlated labels of falling base rate (seeded; a fresh copy per test)."""
    return make_synthetic(400, 6, 3, noise=0.1, seed=7)


@pytest.fixture(scope="session")
def trained_small() -> TrainedModel:
    """One model trained on the ``small_data`` generator, shared read-only by prediction and checkpoint tests."""
    data = make_synthetic(400, 6, 3, noise=0.1, seed=7)
    return train(_small_config(epochs=15), data).trained


@pytest.fixture
def store_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh run-store folder, also set as $MULTILABEL_HOME so nothing writes to ./runs."""
    home = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(home))
    return home


@pytest.fixture
def store(store_home: Path):
    run_store = RunStore(store_home)
    yield run_store
    run_store.close()


@pytest.fixture
def emotion_labels() -> list[str]:
    """The six label columns of emotions.csv, its last columns, in file order."""
    return list(EMOTION_LABELS)


@pytest.fixture
def emotions_csv() -> Path:
    assert EMOTIONS_CSV.is_file(), f"the test data set is missing at {EMOTIONS_CSV}"
    return EMOTIONS_CSV


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """``write_csv(content, name='data.csv') -> path``: text is written as UTF-8, bytes as they are."""

    def write(content: Union[str, bytes], name: str = "data.csv") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli(store_home: Path) -> Callable[..., subprocess.CompletedProcess]:
    """``cli('train', '--synthetic', ...)``: run ``python -m multilabel`` in a child process from the repo root."""

    def run(*args: object) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "multilabel", *map(str, args)], cwd=REPO,
                              env=_cli_env(store_home), capture_output=True, text=True, timeout=CLI_TIMEOUT_S)

    return run


@pytest.fixture
def spawn_cli(store_home: Path):
    """``spawn_cli('train', ...) -> Popen`` (stdout discarded, stderr piped); killed at teardown if still running."""
    children: list[subprocess.Popen] = []

    def spawn(*args: object) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-m", "multilabel", *map(str, args)], cwd=REPO,
                                 env=_cli_env(store_home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        children.append(child)
        return child

    yield spawn
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stderr.close()


def _cli_env(store_home: Path) -> dict[str, str]:
    return {**os.environ, **SINGLE_THREAD_ENV, HOME_ENV: str(store_home)}


@pytest.fixture
def png_bytes() -> bytes:
    """A real, tiny PNG image (16x16 RGB), the kind of file someone uploads by mistake."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes([i * 16 % 256] * 48) for i in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def lock():
    """``lock(path) -> path``: make a folder (or file) refuse writes, for root too; undone at teardown.

    Tests run as root in CI, and root ignores permission bits, so as root this sets the immutable attribute
    (``chattr +i``); otherwise it drops the write bits. Skips where neither binds (no chattr, a filesystem without
    attributes). A locked folder still exists and can be listed and read: only creating, changing or deleting fails.
    """
    locked: list[tuple[Path, int]] = []

    def apply(path: Path) -> Path:
        mode = path.stat().st_mode
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"running as root and chattr +i failed ({done.stderr.strip()}): no way to lock {path}")
        else:
            path.chmod(mode & ~0o222)
        locked.append((path, mode))
        probe = (path if path.is_dir() else path.parent) / ".lock-probe"
        try:
            if path.is_dir():
                probe.touch()
            else:
                open(path, "ab").close()
        except OSError:
            return path
        probe.unlink(missing_ok=True)
        pytest.skip(f"{path} could not be made unwritable on this machine")

    yield apply
    for path, mode in reversed(locked):
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(mode)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """What a page's download buttons hand to Streamlit's in-memory media storage (AppTest keeps no other copy)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    seen: list[dict] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        seen.append({"data": path_or_data, "mimetype": mimetype, "filename": filename})
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return seen


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The page tests' run store (``MULTILABEL_HOME``); at the end the queue is emptied and a run still live (paused
    or not) is stopped, so it cannot slow the next tests."""
    from multilabel.session import get_registry
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    yield tmp_path
    reg = get_registry(tmp_path)
    for item in reg.queued():
        reg.unqueue(item["id"])
    for session in reg.active():
        reg.resume(session.run_id)
        session.stop()
        session.join(timeout=30)


@pytest.fixture
def registry(store: RunStore):
    """A registry whose workers use one torch thread each (deterministic, and kind to a shared 2-core machine); at
    teardown the queue is emptied and any worker this test started and left running is killed."""
    from pagetest import kill_live_workers
    from multilabel.session import SessionRegistry
    reg = SessionRegistry(store, threads_per_run=1)
    yield reg
    for item in store.queue():
        store.unqueue(item["id"])
    kill_live_workers(store)


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A function that mounts a real tmpfs of the given size in ``tmp_path`` and returns its folder (root only; the
    test is skipped elsewhere); every mount is undone afterwards. For a disk that fills, or one remounted read-only."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        path = tmp_path / f"disk{len(mounts)}"
        path.mkdir()
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounts.append(path)
        return path

    yield mount
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], check=False)
