"""A tab the browser hides (another tab in front, a minimized window) stops polling: the server sends it nothing
and it asks for nothing, while its run trains on; shown again, it is current at once and polls again.

Headless Chromium keeps every page 'visible', so the test plays the browser's part: it sets what
``document.visibilityState`` says and fires ``visibilitychange``, as a browser does when a tab goes to the
background and comes back."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
LOAD_MS = 60_000
WINDOW = {"width": 1400, "height": 900}
# Before the app's scripts: the tab's visibility under the test's control, and the websocket's traffic counted.
INIT_JS = """
window.__hidden = false; window.__sent = 0; window.__got = 0;
Object.defineProperty(Document.prototype, 'visibilityState',
    {get() { return window.__hidden ? 'hidden' : 'visible'; }, configurable: true});
Object.defineProperty(Document.prototype, 'hidden', {get() { return window.__hidden; }, configurable: true});
window.__setHidden = (hidden) => { window.__hidden = hidden; document.dispatchEvent(new Event('visibilitychange')); };
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) { window.__sent += 1; return send.call(this, data); };
const Native = window.WebSocket;
window.WebSocket = function (...args) {
    const ws = new Native(...args); ws.addEventListener('message', () => { window.__got += 1; }); return ws; };
window.WebSocket.prototype = Native.prototype;
Object.assign(window.WebSocket, Native);
"""


def traffic(page: Page, seconds: float) -> tuple[int, int]:
    """Websocket messages (sent, received) by the page over the next ``seconds``."""
    before = page.evaluate("[window.__sent, window.__got]")
    page.wait_for_timeout(seconds * 1000)
    after = page.evaluate("[window.__sent, window.__got]")
    return after[0] - before[0], after[1] - before[1]


def settle(page: Page, timeout_s: float = 20) -> None:
    """Until the page run that a change of visibility started has drawn: 1.5 s without a message either way."""
    deadline = time.monotonic() + timeout_s
    while traffic(page, 1.5) != (0, 0):
        assert time.monotonic() < deadline, "the page kept talking to the server"


def epoch_shown(page: Page) -> int:
    match = re.search(r"epoch (\d+)/", " ".join(page.locator("[data-testid='stProgress']").all_inner_texts()))
    return int(match[1]) if match else 0


def test_a_hidden_tab_stops_polling_and_is_current_again_when_shown(page: Page, server, screenshot):
    page.set_viewport_size(WINDOW)
    page.context.add_init_script(INIT_JS)
    # 20,000 rows: slow enough epochs that the run trains throughout (2,000 rows ran 5,000 epochs in under a minute)
    page.goto(f"{server.url}/Train?epochs=100000&samples=20000&patience=0&hidden_size=32&refit=none")
    expect(page.locator(".st-key-start button").first).to_be_enabled(timeout=LOAD_MS)
    page.locator(".st-key-start button").first.click()
    expect(page.get_by_text(re.compile(r"epoch \d+/"))).to_be_visible(timeout=LOAD_MS)
    page.wait_for_timeout(2000)
    sent, got = traffic(page, 3)
    assert sent >= 2 and got >= 10, (sent, got)  # shown: the live view polls

    page.evaluate("window.__setHidden(true)")
    settle(page)  # the one page run that turns the polls off
    hidden_at = epoch_shown(page)
    assert traffic(page, 4) == (0, 0)
    assert epoch_shown(page) == hidden_at  # nothing redrawn meanwhile

    asked = time.monotonic()
    page.evaluate("window.__setHidden(false)")
    progress = page.locator("[data-testid='stProgress']").filter(has_text=re.compile(r"epoch \d+/")).first
    expect(progress).not_to_contain_text(f"epoch {hidden_at}/", timeout=10_000)
    assert time.monotonic() - asked < 5, "shown again, the tab shows the run's epoch at once"
    sent, got = traffic(page, 3)
    assert sent >= 2 and got >= 10, (sent, got)  # polling again
    screenshot("shown-again")

    # Runs polls while a run trains: hidden, it stops too.
    page.locator("[data-testid='stSidebar']").get_by_role("link", name="Runs", exact=True).click()
    expect(page.locator("[data-testid='stDataFrame']")).to_be_visible(timeout=LOAD_MS)
    # The charts come after the table, and the polls (every 2 s) with them: on a loaded machine (CI) that took more
    # than the 3 s this test once waited.
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=LOAD_MS)
    assert traffic(page, 5)[0] >= 1
    page.evaluate("window.__setHidden(true)")
    settle(page)
    assert traffic(page, 4) == (0, 0)
    page.evaluate("window.__setHidden(false)")
    page.wait_for_timeout(1500)
    assert traffic(page, 5)[0] >= 1

    page.locator("[data-testid='stSidebar']").get_by_role("link", name="Train", exact=True).click()
    page.locator(".st-key-stop button").first.click()
    expect(page.locator(".st-key-run_panel p").filter(has_text="status:").first).to_contain_text(
        "stopped", timeout=LOAD_MS)
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log and "WARNING" not in log, log[-3000:]
