"""Train after the s16 walk, in a real browser: Open on a run training from the command line loads its whole form
(the browser kept the old Samples box and sent it back), and the address bar names the run as the page shows it."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from playwright.sync_api import Page, expect

from multilabel.session import get_registry

pytestmark = pytest.mark.browser
LOAD_MS = 60_000
WINDOW = {"width": 1400, "height": 900}
REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def button(page: Page, key: str):
    return page.locator(f".st-key-{key} button").first


def samples_box(page: Page):
    return page.get_by_label("Samples", exact=True)


def test_open_on_a_command_line_run_shows_its_samples_and_the_url_carries_them(page: Page, server, screenshot):
    cli = subprocess.Popen([sys.executable, "-m", "multilabel", "train", "--synthetic", "--samples", "3000",
                            "--noise", "0.25", "--epochs", "2000", "--patience", "0", "--quiet",
                            "--store", str(server.home)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        store = get_registry(server.home).store
        deadline = time.monotonic() + 60
        while not store.live_run_ids() and time.monotonic() < deadline:
            time.sleep(0.3)
        run_id = store.live_run_ids()[0]
        page.set_viewport_size(WINDOW)
        page.goto(f"{server.url}/Train")
        expect(samples_box(page)).to_have_value("2000", timeout=LOAD_MS)
        button(page, f"open_live_{run_id}").click()
        # The URL names the run as soon as the page shows it
        expect(page.locator(".st-key-run_panel")).to_contain_text(run_id, timeout=LOAD_MS)
        expect(page).to_have_url(re.compile(rf"[?&]run={run_id}"), timeout=1500)
        expect(samples_box(page)).to_have_value("3000", timeout=10_000)
        expect(page).to_have_url(re.compile(r"[?&]samples=3000"), timeout=10_000)
        expect(page).to_have_url(re.compile(r"[?&]noise=0\.25"), timeout=10_000)
        page.wait_for_timeout(2500)  # a few polls later the browser has not sent its old value back
        expect(samples_box(page)).to_have_value("3000")
        expect(page).to_have_url(re.compile(r"[?&]samples=3000"))
        screenshot("opened")
    finally:
        cli.terminate()
        cli.wait(timeout=30)
