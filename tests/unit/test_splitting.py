"""Splitting a reply into platform-sized parts (bot/splitting.py)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from bot.models import Button, PaperCard, Reply
from bot.ports.chat import RenderLimits
from bot.splitting import split_reply

BUTTONS = (Button("More", "search", "k1", "next"), Button("Help", "help"))


def card(n: int, size: int = 100) -> PaperCard:
    return PaperCard(
        title=f"Paper {n}",
        url=None,
        authors="A",
        date="2026-03-10",
        upvotes=n,
        summary="x" * size,
    )


def measure(reply: Reply) -> int:
    """Characters of every text field, plus 10 per button."""
    size = len(reply.title or "") + len(reply.text) + len(reply.footer or "")
    size += sum(len(c.title) + len(c.summary) for c in reply.cards)
    return size + 10 * len(reply.buttons)


def reply(cards: int, size: int = 100, **extra: object) -> Reply:
    fields: dict[str, object] = {
        "title": "Today's papers",
        "text": "Hello",
        "footer": "Reply /more",
        "buttons": BUTTONS,
        **extra,
    }
    return Reply(cards=tuple(card(n, size) for n in range(cards)), **fields)  # type: ignore[arg-type]


def check_invariants(original: Reply, parts: list[Reply], limits: RenderLimits) -> None:
    assert parts
    # Cards stay in order, none lost or repeated, split only between cards.
    assert [c for part in parts for c in part.cards] == list(original.cards)
    for part in parts:
        assert len(part.cards) <= limits.max_cards
        if len(part.cards) > 1 or (not part.cards and part.footer is not None):
            assert measure(part) <= limits.max_chars
        assert part.ephemeral == original.ephemeral
        assert part.is_error == original.is_error
    assert (parts[0].title, parts[0].text) == (original.title, original.text)
    assert all(p.title is None and p.text == "" for p in parts[1:])
    assert (parts[-1].footer, parts[-1].buttons) == (original.footer, original.buttons)
    assert all(p.footer is None and p.buttons == () for p in parts[:-1])


def test_fits_in_one() -> None:
    original = reply(3)
    limits = RenderLimits(max_chars=10_000, max_cards=10)
    assert split_reply(original, limits, measure) == [original]


def test_no_cards_is_unchanged_even_when_long() -> None:
    original = Reply(text="y" * 5000, title="T", footer="F", buttons=BUTTONS)
    limits = RenderLimits(max_chars=100, max_cards=2)
    assert split_reply(original, limits, measure) == [original]


def test_split_on_card_boundaries_by_size() -> None:
    original = reply(10)
    limits = RenderLimits(max_chars=350, max_cards=10)
    parts = split_reply(original, limits, measure)
    assert len(parts) > 1
    check_invariants(original, parts, limits)
    # Greedy: a part is closed only when the next card would not fit.
    for part, following in itertools.pairwise(parts):
        if following.cards:
            assert measure(replace(part, cards=(*part.cards, following.cards[0]))) > 350


def test_max_cards_respected() -> None:
    original = reply(7, size=1)
    limits = RenderLimits(max_chars=100_000, max_cards=3)
    parts = split_reply(original, limits, measure)
    assert [len(p.cards) for p in parts] == [3, 3, 1]
    check_invariants(original, parts, limits)


def test_single_oversized_card_gets_its_own_part() -> None:
    cards = (card(0, 10), card(1, 5000), card(2, 10))
    original = Reply(text="intro", cards=cards, footer="end", buttons=BUTTONS)
    limits = RenderLimits(max_chars=500, max_cards=10)
    parts = split_reply(original, limits, measure)
    assert [tuple(c.upvotes for c in p.cards) for p in parts if p.cards] == [(0,), (1,), (2,)]
    check_invariants(original, parts, limits)


def test_oversized_first_card_still_carries_title_and_text() -> None:
    original = reply(1, size=5000)
    limits = RenderLimits(max_chars=500, max_cards=10)
    parts = split_reply(original, limits, measure)
    assert parts[0].cards == original.cards
    assert parts[0].title == original.title
    check_invariants(original, parts, limits)


def test_footer_that_does_not_fit_goes_to_a_part_of_its_own() -> None:
    original = reply(2, size=100, footer="f" * 150)
    limits = RenderLimits(max_chars=250, max_cards=10)
    parts = split_reply(original, limits, measure)
    assert parts[-1].cards == ()
    assert parts[-1].footer == "f" * 150 and parts[-1].buttons == BUTTONS
    check_invariants(original, parts, limits)


@pytest.mark.parametrize("flags", [{"ephemeral": True}, {"is_error": True}])
def test_every_part_keeps_the_reply_flags(flags: dict[str, bool]) -> None:
    original = reply(6, **flags)
    limits = RenderLimits(max_chars=300, max_cards=2)
    parts = split_reply(original, limits, measure)
    assert len(parts) >= 3
    check_invariants(original, parts, limits)


@pytest.mark.parametrize("max_chars", [120, 200, 333, 600, 1000])
@pytest.mark.parametrize("max_cards", [1, 2, 5, 10])
def test_invariants_over_many_limits(max_chars: int, max_cards: int) -> None:
    original = reply(9, size=80)
    limits = RenderLimits(max_chars=max_chars, max_cards=max_cards)
    check_invariants(original, split_reply(original, limits, measure), limits)


def test_each_card_is_rendered_a_bounded_number_of_times() -> None:
    """No re-rendering of the whole part per card: work grows with the cards, not their square."""
    rendered = 0

    def counting(part: Reply) -> int:
        nonlocal rendered
        rendered += len(part.cards)
        return measure(part)

    original = reply(200, size=10)
    limits = RenderLimits(max_chars=100_000, max_cards=200)
    parts = split_reply(original, limits, counting)
    assert len(parts) == 1
    assert rendered <= 4 * len(original.cards)  # re-measuring per card would be ~20,000
