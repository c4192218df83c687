"""The CLI's progress bars: a tqdm bar over epochs, fed as an ``on_epoch`` listener (a callable taking a record),
and the search's ensemble refit, on a bar and in a small JSON file a page reads."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional, TextIO

from tqdm import tqdm

from .paths import atomic_write
from .words import about_seconds


class EpochProgress:
    """``on_epoch`` listener that draws a tqdm bar over the run's epochs on ``stream`` (stderr by default).

    Each call shows the latest epoch's train and validation loss and samples/s. Validation micro-F1 is computed
    only on some epochs (see TrainConfig.eval_every), so it is always shown with the epoch it comes from,
    ``F1 0.713@e40``: a reader never takes an older epoch's F1 for the current one. On a terminal the bar redraws in
    place; elsewhere (a log file, CI) it writes a line at most every ``log_every_s`` seconds, plus the last one.

    Use: ``progress = EpochProgress(config.epochs); train(config, data, on_epoch=progress); progress.close()``,
    or as a context manager.
    """

    def __init__(self, total: int, stream: Optional[TextIO] = None, log_every_s: float = 10.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = total
        self.f1: Optional[tuple[float, int]] = None  # (micro-F1, the epoch it was measured on)
        self.refit_bar: Optional[tqdm] = None
        self.style = dict(unit="epoch", file=self.stream, dynamic_ncols=tty, ncols=None if tty else 120,
                          mininterval=0.1 if tty else log_every_s, leave=True, ascii=not tty,
                          bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
        self.bar = tqdm(total=total, **self.style)

    def __call__(self, record: dict[str, Any]) -> None:
        epoch = int(record["epoch"])
        if record.get("val_micro_f1") is not None:
            self.f1 = (float(record["val_micro_f1"]), epoch)
        self.bar.set_postfix_str(self.postfix(record), refresh=False)
        self.bar.update(max(0, epoch - self.bar.n))  # redraws (rate-limited by tqdm's mininterval)

    def postfix(self, record: dict[str, Any]) -> str:
        """``train 0.3121 val 0.3342 F1 0.713@e40 12,345 samples/s`` for a record (F1 as of its epoch, if any)."""
        parts = [f"train {record['train_loss']:.4f}", f"val {record['val_loss']:.4f}"]
        if self.f1 is not None:
            parts.append(f"F1 {self.f1[0]:.3f}@e{self.f1[1]}")
        if record.get("samples_per_s") is not None:
            parts.append(f"{record['samples_per_s']:,.0f} samples/s")
        if record.get("partial"):
            parts.append("(stopped mid-epoch)")
        return " ".join(parts)

    def refit(self, update: dict[str, Any]) -> None:
        """``on_refit`` listener (worker.run_training): a second bar over the refit's epochs, opened with what it
        will train and how long it is expected to take (``{"epochs", "rows", "expected_s", "epoch"}``)."""
        if update["epoch"] == 0:
            self.bar.close()
            expected = update.get("expected_s")
            about = "" if expected is None else f", expected {about_seconds(expected)}"
            self.refit_bar = tqdm(total=update["epochs"], desc=f"refit on all {update['rows']:,} rows{about}",
                                  **self.style)
        else:
            self.refit_bar.update(max(0, update["epoch"] - self.refit_bar.n))

    def close(self) -> None:
        """Draw the final state and end the line."""
        self.bar.close()
        if self.refit_bar is not None:
            self.refit_bar.close()

    def __enter__(self) -> EpochProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


PROGRESS_STEPS = 50  # the file is rewritten at most this often per refit (and once per configuration)


class RefitProgress:
    """``on_progress`` listener of ``search.build_ensemble``: keeps its counts (``search.refit_progress``) in the
    JSON file ``path`` (replaced whole, so a reader never sees half a file; rewritten every 2 % of the epochs and
    when the configuration changes) and, with ``bar``, draws a tqdm bar over the refit's epochs on ``stream``.

    Use: ``with RefitProgress(path, bar=True) as on_progress: build_ensemble(..., on_progress=on_progress)``.
    """

    def __init__(self, path: Optional[str | os.PathLike] = None, bar: bool = False,
                 stream: Optional[TextIO] = None) -> None:
        self.path = Path(path) if path is not None else None
        self.stream = stream if stream is not None else sys.stderr
        self.show = bar
        self.bar: Optional[tqdm] = None
        self.last: Optional[tuple[int, int]] = None

    def __call__(self, counts: dict[str, int]) -> None:
        if self.show:
            if self.bar is None:
                tty = bool(getattr(self.stream, "isatty", lambda: False)())  # a log file: a line every 10 s
                self.bar = tqdm(total=counts["epochs"], unit="epoch", file=self.stream, ascii=not tty,
                                mininterval=0.1 if tty else 10.0, desc=f"refit {counts['nets']} nets")
            self.bar.set_postfix_str(f"configuration {counts['config']} of {counts['configs']}", refresh=False)
            self.bar.update(max(0, counts["epochs_done"] - self.bar.n))
        step = (counts["config"], PROGRESS_STEPS * counts["epochs_done"] // max(1, counts["epochs"]))
        if self.path is not None and step != self.last:
            self.last = step
            atomic_write(self.path, json.dumps(counts))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> RefitProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
