"""Plain-text rendering of replies for a terminal."""

from __future__ import annotations

from bot.cards import clean_text
from bot.models import PaperCard, Reply

RULE = "─" * 60


def render_card(card: PaperCard) -> str:
    """A paper card as indented plain text."""
    rank = f"{card.rank}. " if card.rank is not None else ""
    lines = [
        f"{rank}{card.title}",
        f"   {card.authors} · {card.date}" + (f" · ▲ {card.upvotes}" if card.upvotes else ""),
        *(f"   {part}" for part in _wrap(card.summary, 76)),
    ]
    lines.extend(f"   {link.label}: {link.url}" for link in card.links)
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def render_reply(reply: Reply) -> str:
    """The whole reply: heading, text, cards, footer and numbered actions."""
    blocks: list[str] = []
    if reply.title:
        blocks.append(f"== {clean_text(reply.title)} ==")
    if reply.text:
        prefix = "! " if reply.is_error else ""
        blocks.append(prefix + "\n".join(clean_text(line) for line in reply.text.splitlines()))
    blocks.extend(render_card(card) for card in reply.cards)
    if reply.footer:
        blocks.append(clean_text(reply.footer))
    if reply.buttons:
        actions = [
            f"/{b.alias} {b.label}" for b in reply.buttons if b.alias and not b.alias.isdigit()
        ]
        details = [b.alias for b in reply.buttons if b.alias.isdigit()]
        if details:
            shown = details[0] if len(details) == 1 else f"{details[0]}…/{details[-1]}"
            actions.append(f"details: /{shown}")
        blocks.append("Actions: " + "   ".join(actions))
    return "\n\n".join(blocks)
