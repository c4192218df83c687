"""How many torch threads a training step is worth: one per MACS_PER_THREAD multiply-adds of a step.

On a CPU, a small step split over several OpenMP threads loses more at every barrier than the extra cores give:
with threads that sleep while they wait (the workers', see _preload.py) a small net trains slower on 2 threads
than on one; with threads that spin (torch's default), 2 threads beside one busy process wait for each other at
every step (benchmarks/README.md, "Threads of a run alone" and "Threads of a search's trials"). Used by the
workers (worker.threads_for), a search's trials and ensemble (search.py, oof.py) and ``multilabel train``.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch

from .config import TrainConfig
from .stepper import resolve_auto

# Multiply-adds per optimizer step that make one more torch thread pay (measured on 2 cores, both wait policies).
MACS_PER_THREAD = 16_000_000


def run_macs(config: TrainConfig, n_rows: int) -> int:
    """Multiply-adds of one optimizer step of ``config`` on ``n_rows`` rows (auto batch resolved, a batch larger
    than the training rows clipped to them)."""
    n_train = max(1, n_rows - max(1, int(round(n_rows * config.val_fraction))))
    batch = min(resolve_auto(config, n_train).batch_size, n_train)
    return config.replace(batch_size=batch).macs_per_step()


def threads_worth(macs_per_step: int) -> int:
    """Torch threads a step of ``macs_per_step`` multiply-adds is worth: one per MACS_PER_THREAD, at least one."""
    return max(1, macs_per_step // MACS_PER_THREAD)


_lock = threading.Lock()
_open = [0, 0]  # blocks open in this process, and the threads it had before the first of them


@contextlib.contextmanager
def step_threads(macs_per_step: int) -> Iterator[int]:
    """Within the block, at most one torch thread per MACS_PER_THREAD multiply-adds of a step, never more than this
    process had (a share of the cores, $OMP_NUM_THREADS); restored when the last open block ends. Torch's thread
    count is the process's: blocks may overlap in threads (two pages' script runs in the server)."""
    with _lock:
        if _open[0] == 0:
            _open[1] = torch.get_num_threads()
        _open[0] += 1
        torch.set_num_threads(min(_open[1], threads_worth(macs_per_step)))
        threads = torch.get_num_threads()
    try:
        yield threads
    finally:
        with _lock:
            _open[0] -= 1
            if _open[0] == 0:
                torch.set_num_threads(_open[1])
