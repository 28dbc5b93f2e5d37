"""Splitting a reply that is too big for one platform message.

One pure function, shared by every adapter: each adapter supplies its
:class:`~bot.ports.chat.RenderLimits` and a ``measure`` function that returns
the size of a reply as that platform counts it once rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.models import PaperCard, Reply
from bot.ports.chat import RenderLimits

Measure = Callable[[Reply], int]


def _card_costs(cards: Sequence[PaperCard], follow: Reply, measure: Measure) -> list[int]:
    """What each card adds to a part after another card: its own size and a separator.

    Each card is rendered once, alone. The separator is learned from the first
    card rendered twice; the size of an empty reply cancels out (an adapter
    may render "nothing" as a placeholder).
    """
    empty = measure(follow)
    alone = [measure(replace(follow, cards=(card,))) for card in cards]
    twice = measure(replace(follow, cards=(cards[0], cards[0])))
    separator = twice - 2 * alone[0] + empty
    return [size - empty + separator for size in alone]


def split_reply(reply: Reply, limits: RenderLimits, measure: Measure) -> list[Reply]:
    """Split ``reply`` on card boundaries into parts that each fit ``limits``.

    The heading and text stay on the first part, footer and buttons on the
    last; every part keeps the reply's flags (``ephemeral``, ``is_error``), so
    a private answer never continues in public. A single card too big on its
    own is the adapter's job to trim; it still gets a part of its own here.

    Parts are greedy: a part closes only when the next card would not fit.
    Their ends are first estimated from each card's size (rendered once),
    then checked with the adapter's own measure of the whole part, so a
    renderer whose sizes do not simply add up (text trimmed to make room)
    still gets exact parts, while a long reply is not re-rendered per card.
    """
    if not reply.cards:
        return [reply]
    # The common case (a digest of a few papers) costs one render.
    if len(reply.cards) <= limits.max_cards and measure(reply) <= limits.max_chars:
        return [reply]
    cards = reply.cards
    head = replace(reply, cards=(), buttons=(), footer=None)
    # Continuation parts: no heading or text, but the same flags as the reply.
    follow = replace(head, text="", title=None)
    costs = _card_costs(cards, follow, measure)
    parts: list[Reply] = []
    base, start = head, 0

    def fits(end: int) -> bool:
        return (
            end - start == 1 or measure(replace(base, cards=cards[start:end])) <= limits.max_chars
        )

    while start < len(cards):
        end, size = start + 1, measure(replace(base, cards=cards[start : start + 1]))
        room = min(len(cards), start + limits.max_cards)
        while end < room and size + costs[end] <= limits.max_chars:
            size += costs[end]
            end += 1
        while not fits(end):
            end -= 1
        while end < room and fits(end + 1):
            end += 1
        parts.append(replace(base, cards=cards[start:end]))
        base, start = follow, end
    current = parts.pop()
    last = replace(current, buttons=reply.buttons, footer=reply.footer)
    if measure(last) > limits.max_chars and current.cards:
        parts.append(current)
        last = replace(follow, buttons=reply.buttons, footer=reply.footer)
    parts.append(last)
    return parts
