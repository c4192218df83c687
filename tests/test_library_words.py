"""multilabel.words: the words the pages and the command line share."""

from __future__ import annotations

from multilabel.words import count, status_word


def test_a_count_names_its_noun_in_the_right_number():
    assert count(1, "label") == "1 label" and count(6, "label") == "6 labels" and count(0, "label") == "0 labels"
    assert count(1200, "validation row") == "1,200 validation rows"
    assert count(1, "label column") == "1 label column" and count(2, "match", "matches") == "2 matches"


def test_status_words_are_the_pages_words():
    assert status_word("early_stopped") == "stopped early" and status_word("completed") == "completed"
    assert status_word("some_new_state") == "some new state"


def test_an_expected_duration_under_half_a_second_is_not_about_0_s():
    from multilabel.words import about_seconds

    assert [about_seconds(s) for s in (0.0, 0.5, 0.7, 12.4)] == ["under 1 s", "under 1 s", "about 1 s", "about 12 s"]
