"""Several browser sessions each start and watch a run: the runs train in worker processes (not in the server), side
by side, while the server keeps answering; each Stop ends its own run. Functional, never timed: the speed side of
this is benchmarks/bench_dashboard_load.py."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from multilabel.jobs import owner_pid
from multilabel.store import RunStore

import pagetest

pytestmark = pytest.mark.browser

LOAD_MS = 60_000
TABS = 3


def epoch_shown(page: Page) -> int:
    for text in page.locator("[data-testid='stProgress']").all_inner_texts():
        match = re.search(r"epoch (\d+)/", text)
        if match:
            return int(match[1])
    return 0


# Streamlit 1.67's frontend now and then stops on a delta it cannot place ("Bad delta path index 1 (should be between
# [0, 0])" in the console) and sends nothing more: the tab stays frozen while its run trains on. Here it broke 3 runs
# of this test in about 70, and up to 4 tabs of 6 in one run with 6 tabs (closing note of 2026-12-08). A person
# reloads such a tab; so does this test, once per wait, and only for that error.
FRONTEND_BREAK = "Bad delta path index"


def wait_until(done, what: str, detail=None) -> None:
    pagetest.wait_for(done, what, poll_s=0.2, detail=detail)


def watch_console(page: Page) -> list[str]:
    """The page's console errors and uncaught exceptions, as they come."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def wait_advancing(page: Page, console: list[str], past: int, what: str, detail) -> None:
    """Wait until ``page`` shows an epoch after ``past``; a tab whose frontend broke (FRONTEND_BREAK in its console)
    is reloaded once, and must then show the run going on."""
    broke = pagetest.wait_for(lambda: (epoch_shown(page) > past and "shown")
                              or (any(FRONTEND_BREAK in e for e in console) and "broke"), what, poll_s=0.2,
                              detail=detail)
    if broke == "broke":
        console.clear()
        page.reload()
        wait_until(lambda: epoch_shown(page) > past, f"{what} (after a reload)", detail)


def shown_state(pages: list[Page], store_home: Path, log: Path) -> str:
    """What each tab shows and what the store holds, for a failure message (screenshots in the temp folder)."""
    store = RunStore(store_home)
    try:
        runs = [(r["id"], r["status"], len(store.history(r["id"]))) for r in store.list_runs()]
    finally:
        store.close()
    tabs = []
    for i, page in enumerate(pages):
        try:
            page.screenshot(path=str(log.parent / f"tab{i}.png"))
            tabs.append((page.url, page.evaluate("document.visibilityState"),
                         page.locator("[data-testid='stMain']").inner_text(timeout=5000)[-1500:]))
        except Exception as exc:  # the message says what it could
            tabs.append((page.url, repr(exc)[:300]))
    return f"tabs {tabs}; runs {runs}; server log tail {log.read_text()[-3000:]!r}; shots in {log.parent}"


def command_line(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")


def test_several_sessions_train_side_by_side_in_workers_and_each_stops_its_own(browser: Browser, server,
                                                                               browser_context_args):
    contexts = [browser.new_context(**browser_context_args) for _ in range(TABS)]
    try:
        pages = [context.new_page() for context in contexts]
        consoles = [watch_console(page) for page in pages]

        def state() -> str:
            # Streamlit's own 404s on a subpage load (issue 22) left out
            return (f"console errors {[[e[:300] for e in c if 'status of 404' not in e][-4:] for c in consoles]}; "
                    + shown_state(pages, server.home, server.log))

        for i, page in enumerate(pages):
            # The form comes from the link: a long run (the test stops it), another seed per tab.
            page.goto(f"{server.url}/Train?epochs=2000&patience=0&seed={i}")
            expect(page.get_by_role("button", name="Start training")).to_be_enabled(timeout=LOAD_MS)
        for page in pages:
            page.get_by_role("button", name="Start training").click()
        for page in pages:
            expect(page).to_have_url(re.compile(r"[?&]run=[\w-]+"), timeout=LOAD_MS)
        run_ids = [re.search(r"run=([\w-]+)", page.url)[1] for page in pages]
        assert len(set(run_ids)) == TABS

        # Every tab sees its own run advance, live.
        for page, console in zip(pages, consoles):
            wait_advancing(page, console, 0, "a first epoch on every tab", state)
        before = [epoch_shown(page) for page in pages]
        for page, console, shown in zip(pages, consoles, before):
            wait_advancing(page, console, shown, "every tab's epoch counter to move on", state)

        # They train at once, each in a process of its own that is not the server; the server still answers.
        store = RunStore(server.home)
        runs = {run["id"]: run for run in store.list_runs()}
        assert all(runs[i]["status"] == "running" for i in run_ids)
        owners = {owner_pid(runs[i]["owner"]) for i in run_ids}
        assert len(owners) == TABS
        for pid in owners:
            assert b"streamlit" not in command_line(pid), command_line(pid)
        assert len({runs[i]["started_by"] for i in run_ids}) == TABS  # each browser session owns its run
        with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=30) as reply:
            assert reply.read().strip() == b"ok"

        # Each Stop ends that tab's run and no other.
        pages[0].get_by_role("button", name="Stop", exact=True).click()
        wait_until(lambda: store.get_run(run_ids[0])["status"] == "stopped", "the first run to stop", state)
        assert all(store.get_run(i)["status"] == "running" for i in run_ids[1:])
        expect(pages[0].get_by_text("status: stopped", exact=False)).to_be_visible(timeout=LOAD_MS)
        for page, run_id in zip(pages[1:], run_ids[1:]):
            page.get_by_role("button", name="Stop", exact=True).click()
            wait_until(lambda: store.get_run(run_id)["status"] == "stopped", "every run to stop", state)
        for run_id in run_ids:
            run = store.get_run(run_id)
            assert run["notes"] == [] and run["checkpoint"], run  # stopped by its owner: no note; weights kept
        store.close()
    finally:
        for context in contexts:
            context.close()
