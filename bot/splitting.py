"""Splitting a reply that is too big for one platform message.

One pure function, shared by every adapter: each adapter supplies its
:class:`~bot.ports.chat.RenderLimits` and a ``measure`` function that returns
the size of a reply as that platform counts it once rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bot.models import Reply
from bot.ports.chat import RenderLimits


def split_reply(reply: Reply, limits: RenderLimits, measure: Callable[[Reply], int]) -> list[Reply]:
    """Split ``reply`` on card boundaries into parts that each fit ``limits``.

    The heading and text stay on the first part, footer and buttons on the
    last; every part keeps the reply's flags (``ephemeral``, ``is_error``), so
    a private answer never continues in public. A single card too big on its
    own is the adapter's job to trim; it still gets a part
    of its own here.
    """
    if not reply.cards:
        return [reply]
    parts: list[Reply] = []
    current = replace(reply, cards=(), buttons=(), footer=None)
    # Continuation parts: no heading or text, but the same flags as the reply.
    follow = replace(current, text="", title=None)
    for card in reply.cards:
        candidate = replace(current, cards=(*current.cards, card))
        too_many = len(candidate.cards) > limits.max_cards
        if current.cards and (too_many or measure(candidate) > limits.max_chars):
            parts.append(current)
            current = replace(follow, cards=(card,))
        else:
            current = candidate
    last = replace(current, buttons=reply.buttons, footer=reply.footer)
    if measure(last) > limits.max_chars and current.cards:
        parts.append(current)
        last = replace(follow, buttons=reply.buttons, footer=reply.footer)
    parts.append(last)
    return parts
