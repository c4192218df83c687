"""The "Sigmoid vs softmax" page in a real browser: a person opens it from the sidebar, trains, and sees the point."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from multilabel.heads import compare_heads, demo_data

pytestmark = pytest.mark.browser

LOAD_MS = 60_000
TRAIN_MS = 120_000  # a second or two alone; much longer on a loaded 2-core machine with a browser and a server


def test_sigmoid_vs_softmax_page_trains_both_heads_and_shows_the_split_mass(page: Page, server: Any, screenshot):
    expected = compare_heads(demo_data(seed=0), seed=0)  # the page's defaults
    page.goto(server.url + "/")
    expect(page.get_by_text("Devices on this machine")).to_be_visible(timeout=LOAD_MS)
    sidebar_links = page.locator("[data-testid='stSidebar'] [data-testid='stPageLink']")
    sidebar_links.get_by_text("Sigmoid vs softmax", exact=True).click()
    expect(page.get_by_role("heading", name="Sigmoid vs softmax", exact=True)).to_be_visible(timeout=LOAD_MS)
    expect(page.locator(".js-plotly-plot")).to_have_count(0)
    page.get_by_role("button", name="Train both heads").click()

    expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=TRAIN_MS)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Sigmoid micro-F1")
    expect(metric).to_contain_text(f"{expected.metrics['sigmoid']['micro_f1']:.3f}")
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Softmax micro-F1")
    expect(metric).to_contain_text(f"{expected.metrics['softmax']['micro_f1']:.3f}")
    # The first chosen row's softmax panel title says its probabilities sum to 1.
    first = expected.rows[0]
    expect(page.locator(".st-key-heads_probs_chart")).to_contain_text(f"row {first}:")
    expect(page.locator(".st-key-heads_probs_chart")).to_contain_text("Σp = 1.00")
    expect(page.locator("[data-testid='stMetric']").filter(has_text="Softmax best top-k")).to_contain_text(
        f"(k = {expected.softmax_topk['k']})")
    screenshot("trained")
