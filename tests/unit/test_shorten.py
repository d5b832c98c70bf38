"""Shortening never cuts mid-word and says how much it left out: the one helper every message goes through."""

from __future__ import annotations

import pytest

from grader.reporters import clean_text
from grader.shorten import shorten, shorten_items

FEEDBACK = ("the result[1] differs at 3 of 5 entries. The loss is the mean of the squared residuals: each residual is the "
            "prediction minus the target, squared, then averaged over the batch")


@pytest.mark.parametrize("limit", [30, 41, 60, 99, 120])
def test_a_long_message_is_cut_at_a_word_and_says_how_many_characters_it_left_out(limit: int) -> None:
    short = shorten(FEEDBACK, limit)
    kept, _, marker = short.partition(" …(")
    assert len(short) <= limit
    assert FEEDBACK.startswith(kept) and FEEDBACK[len(kept)] == " "  # a whole word: the next character is a space
    assert marker == f"{len(FEEDBACK) - len(kept)} more characters)"


def test_what_fits_is_kept_whole_and_a_single_long_word_is_cut_where_the_room_ends() -> None:
    assert shorten(FEEDBACK, len(FEEDBACK)) == FEEDBACK
    assert shorten("x" * 100, 40) == "x" * 17 + " …(83 more characters)"


def test_the_reported_message_no_longer_ends_mid_word() -> None:  # "…squared residuals: eac..." came from clean_text's cut
    shown = clean_text(FEEDBACK, 120)
    assert not shown.endswith("...") and "eac" not in shown.split()[-4:]
    assert shown.endswith("more characters)") and "squared residuals:" in shown


def test_items_are_kept_whole_and_the_rest_counted() -> None:
    items = ["call 1: the result[1] differs", "call 2: the result[1] differs", "call 3: the result[1] differs"]
    assert shorten_items(items) == "; ".join(items)
    assert shorten_items(items, most=2) == f"{items[0]}; {items[1]}; …(1 more)"
    assert shorten_items(items, limit=45) == f"{items[0]}; …(2 more)"
    assert shorten_items(["'w'", "'loss'"], total=5, sep=", ") == "'w', 'loss', …(3 more)"
    assert shorten_items([]) == ""
