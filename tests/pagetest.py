"""What the tests share beyond conftest's fixtures: open the app on a page, read its text, re-run it until something
shows; one wait for any condition (worker, control and browser tests) with one deadline; a history without timings.

Imported as ``from pagetest import ...`` (pytest puts ``tests/`` on ``sys.path``; the module's name is its own, so
``tests/browser/conftest.py`` cannot shadow it as it would ``conftest``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 120  # the deadline for waits on workers and servers: a safety net on a loaded machine, not a speed check


def open_page(page: str | None = None, **query: str) -> AppTest:
    """A fresh AppTest session of ``app.py`` switched to ``page`` (a path from ``app_pages._nav``) with ``query`` in
    its URL, run once."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=30)
    if page:
        at.switch_page(page)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def text(at: AppTest) -> str:
    """Every markdown element's text, one per line."""
    return "\n".join(m.value for m in at.markdown)


def shown(markdown: str) -> str:
    """The text a person reads from an element's Markdown source: the escapes of app_pages._shared.plain removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def progress_texts(at: AppTest) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def wait_until(at: AppTest, done: Callable[[AppTest], bool], what: str, timeout: float = WAIT_S,
               poll_s: float = 0.2) -> AppTest:
    """Re-run the script (as the page's poll would) until ``done(at)``; fail with what the page shows."""
    deadline = time.monotonic() + timeout
    while not done(at):
        assert not at.exception, [e.value for e in at.exception]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting for {what}; page shows: {text(at)!r}, "
                        f"progress {progress_texts(at)}, errors {[e.value for e in at.error]}, "
                        f"warnings {[w.value for w in at.warning]}")
        time.sleep(poll_s)
        at.run()
    return at


def wait_for(predicate: Callable[[], object], what: str, timeout: float = WAIT_S, poll_s: float = 0.02,
             detail: Callable[[], str] | None = None):
    """``predicate()``'s first truthy value, polled every ``poll_s``; fail after ``timeout`` seconds, saying what was
    awaited and, where given, ``detail()`` (what the page or the run showed then)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting for {what}" + (f"; {detail()}" if detail else ""))
        time.sleep(poll_s)


def kill_live_workers(store) -> None:
    """Kill (SIGKILL) every worker process that owns a live run of ``store``, other than the store's own process."""
    import os
    import signal

    from multilabel.jobs import owner_alive, owner_pid
    for run_id in store.live_run_ids():
        owner = store.get_run(run_id)["owner"]
        if owner != store.owner and owner_alive(owner):
            os.kill(owner_pid(owner), signal.SIGKILL)


def without_timing(history: list[dict]) -> list[dict]:
    """Epoch records without their wall-clock fields, for comparing two runs' numbers."""
    return [{k: v for k, v in r.items() if k not in ("duration_s", "samples_per_s")} for r in history]
