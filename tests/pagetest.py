"""What the page tests share: open the app on a page, read its text, re-run it until something shows; and a wait
for any condition (the worker and control tests).

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
WAIT_S = 90  # generous: a loaded 2-core CI machine trains slower than a laptop


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


def wait_for(predicate: Callable[[], object], what: str, timeout: float = WAIT_S, poll_s: float = 0.02):
    """``predicate()``'s first truthy value, polled every ``poll_s``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(poll_s)
