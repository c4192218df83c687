"""Control of a live run in a real browser: start, pause ("paused at epoch N", the counter holds), one epoch,
resume, the run finishes; then "Continue training" for more epochs in a linked run that ends at the total length."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

import pagetest

from multilabel.store import RunStore

pytestmark = pytest.mark.browser
LOAD_MS = 60_000
EPOCHS = 80  # batch 8 on 1,600 rows: 200 steps an epoch, long enough to pause by hand, short enough to finish


def button(page: Page, key: str):
    """The button with widget key ``key`` (a button with help text sits in two nested keyed blocks)."""
    return page.locator(f".st-key-{key} button").first


def epoch_shown(page: Page) -> int:
    for text in page.locator("[data-testid='stProgress']").all_inner_texts():
        match = re.search(r"epoch (\d+)/(\d+)", text)
        if match:
            return int(match[1])
    return 0


def paused_at(page: Page) -> int | None:
    match = re.search(r"status: paused at epoch (\d+)", page.locator("[data-testid='stMarkdown']").all_inner_texts()
                      and " ".join(page.locator("[data-testid='stMarkdown']").all_inner_texts()) or "")
    return int(match[1]) if match else None


def wait_for(page: Page, done, what: str, timeout_s: float = 90) -> None:
    pagetest.wait_for(done, what, timeout_s, poll_s=0.15, detail=lambda: f"epoch shown {epoch_shown(page)}")


def test_pause_one_epoch_resume_finish_then_continue(page: Page, server, screenshot):
    # The form comes from the URL (the Train page mirrors its TrainConfig there): a shared link opens this setup.
    # No refit: it would train each run a second time after its last epoch (tests/test_search.py covers refit).
    page.goto(f"{server.url}/Train?epochs={EPOCHS}&batch_size=8&patience=0&hidden_size=64&refit=none")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(button(page, "start")).to_be_enabled(timeout=LOAD_MS)
    expect(button(page, "pause")).to_be_disabled()
    page.get_by_text("Command line: the same run without the dashboard").click()
    expect(page.locator("[data-testid='stCode']")).to_contain_text(f"--epochs {EPOCHS}")
    expect(page.locator("[data-testid='stCode']")).to_contain_text("--batch-size 8")

    button(page, "start").click()
    expect(page).to_have_url(re.compile(r"[?&]run=[\w-]+"), timeout=LOAD_MS)
    run_id = re.search(r"run=([\w-]+)", page.url)[1]
    wait_for(page, lambda: epoch_shown(page) >= 2, "two epochs")

    asked = time.monotonic()
    button(page, "pause").click()
    expect(page.get_by_text(re.compile(r"status: paused at epoch \d+"))).to_be_visible(timeout=LOAD_MS)
    seen_after_s = time.monotonic() - asked
    held = paused_at(page)
    assert held is not None and held < EPOCHS, "the run ended before it could be paused; raise EPOCHS"
    expect(button(page, "resume")).to_be_visible()
    page.wait_for_timeout(1500)
    assert epoch_shown(page) == held == paused_at(page), "epochs went on while paused"
    screenshot("1-paused")
    print(f"\npause shown in the browser {seen_after_s:.2f} s after the click (epoch {held})")

    button(page, "step").click()
    expect(page.get_by_text(f"status: paused at epoch {held + 1}")).to_be_visible(timeout=LOAD_MS)

    page.reload()  # a new Streamlit session: the pause lives in the store
    expect(page.get_by_text(f"status: paused at epoch {held + 1}")).to_be_visible(timeout=LOAD_MS)
    button(page, "resume").click()
    # The same browser after a reload (its cookie): its own run resumes without a question or a note.
    expect(page.get_by_text("status: completed")).to_be_visible(timeout=300_000)
    assert epoch_shown(page) == EPOCHS
    expect(page.get_by_text("Resume it anyway?")).to_have_count(0)
    expect(page.get_by_text(re.compile(r"Note \(\d\d:\d\d\): resumed by browser session"))).to_have_count(0)
    screenshot("2-finished")

    # Continue the finished run for 20 more epochs: a new run that carries this one's epochs.
    more = page.locator(".st-key-more_epochs input")
    more.fill("20")
    more.press("Enter")
    button(page, "continue").click()
    expect(page).not_to_have_url(re.compile(rf"run={re.escape(run_id)}"), timeout=LOAD_MS)
    child = re.search(r"run=([\w-]+)", page.url)[1]
    expect(page.get_by_text(f"Continued from run {run_id}")).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_text("status: completed")).to_be_visible(timeout=300_000)
    assert epoch_shown(page) == EPOCHS + 20
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    screenshot("3-continued")

    store = RunStore(server.home)
    try:
        parent, run = store.get_run(run_id), store.get_run(child)
        assert parent["status"] == "completed" and parent["epochs_done"] == EPOCHS
        assert run["continued_from"] == run_id and run["epochs_done"] == EPOCHS + 20
        assert [r["val_loss"] for r in store.history(child)][:EPOCHS] == [r["val_loss"]
                                                                         for r in store.history(run_id)]
    finally:
        store.close()
