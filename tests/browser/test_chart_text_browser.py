"""Bar labels as Chromium draws them: a bar too short to hold its text, or missing, still shows its value."""

from __future__ import annotations

import plotly.io as pio

from multilabel.charts import per_label_figure, search_importance_figure


def drawn_bar_texts(page, figure) -> list[str]:
    """The bar labels plotly draws for ``figure`` in this browser (with plotly's own bundle): text with a size."""
    page.set_content("<html><body>" + pio.to_html(figure, include_plotlyjs=True, full_html=False,
                                                   default_width=600) + "</body></html>")
    page.wait_for_selector(".js-plotly-plot .bars")
    return page.evaluate("""[...document.querySelectorAll('.js-plotly-plot .bartext')]
        .filter(t => { const r = t.getBoundingClientRect(); return r.width > 0 && r.height > 0; })
        .map(t => t.textContent)""")


def test_a_zero_importance_keeps_its_label(page):
    # With "auto" plotly removed the text of a bar too short to hold it: 0.00 had no label.
    fig = search_importance_figure({"hidden_size": 0.8, "dropout": 0.2, "learning_rate": 0.0, "weight_decay": 0.03})
    assert sorted(drawn_bar_texts(page, fig)) == ["0.00", "0.03", "0.20", "0.80"]


def test_a_missing_auroc_says_n_a_and_an_f1_of_zero_says_0(page):
    fig = per_label_figure({"rare": {"f1": 0.0, "auroc": None}, "common": {"f1": 0.5, "auroc": 0.7}})
    assert sorted(drawn_bar_texts(page, fig)) == ["0.00", "0.50", "0.70", "n/a"]
