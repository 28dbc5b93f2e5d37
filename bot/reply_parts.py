"""Pieces of command replies: paging and detail buttons, result totals, day ranges, next posts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bot.cards import paper_card
from bot.digest import ALL_FILTERED, NO_ANNOUNCEMENT, NO_LIST, NOTHING_NEW
from bot.models import Button, Paper, PaperCard, Reply, Subscription
from bot.ports.storage import SearchPage
from bot.schedule import format_local

# Results per page, and the last page a Next button leads to.
PAGE_SIZE = 5
MAX_PAGE = 50


def page_buttons(session_key: str, page: int, has_more: bool) -> list[Button]:
    """Prev/Next buttons of a paged list kept in search session ``session_key``."""
    buttons: list[Button] = []
    if page > 1:
        buttons.append(Button("◀ Prev", "page", f"{session_key} {page - 1}", alias="prev"))
    if has_more and page < MAX_PAGE:
        buttons.append(Button("Next ▶", "page", f"{session_key} {page + 1}", alias="next"))
    return buttons


def detail_buttons(cards: Sequence[PaperCard], papers: Sequence[Paper]) -> list[Button]:
    """One button per result, labelled with its rank, that opens the paper."""
    return [
        Button(str(card.rank), "paper", paper.key, alias=str(card.rank))
        for card, paper in zip(cards, papers, strict=True)
    ]


def remote_results(shown: str, papers: list[Paper]) -> Reply:
    """The first page of what Hugging Face's own search found for ``shown``."""
    shown_papers = papers[:PAGE_SIZE]
    cards = tuple(paper_card(p, i) for i, p in enumerate(shown_papers, 1))
    return Reply(
        title=f"Results for “{shown}” from Hugging Face",
        text="Nothing in the local library matched, so these come from Hugging Face's search.",
        cards=cards,
        buttons=tuple(detail_buttons(cards, shown_papers)),
    )


def of_total(found: SearchPage) -> str:
    """`` of 12`` (`` of 300+`` when the backend stopped counting), or nothing when unknown."""
    if found.total is None:
        return ""
    return f" of {found.total}+" if found.total_capped else f" of {found.total}"


EMPTY_EXPLAINED = {
    NO_LIST: "There is no Hugging Face daily list for the days it covers yet.",
    NO_ANNOUNCEMENT: "No announcement of its arXiv categories has been fetched for the days"
    " it covers yet (arXiv announces Sunday to Thursday at 20:00 US Eastern).",
    NOTHING_NEW: "Every paper of the latest list was already posted here.",
    ALL_FILTERED: "This channel's filters leave none of the latest list's new papers.",
}


def days_covered(first: date | None, last: date | None) -> str:
    """``Fri 14 Mar 2025`` or ``Mon 03 Mar 2025 – Sun 09 Mar 2025``."""
    if first is None or last is None:
        return "no day"
    if first == last:
        return first.strftime("%a %d %b %Y")
    return f"{first.strftime('%a %d %b %Y')} – {last.strftime('%a %d %b %Y')}"


def next_post_line(sub: Subscription) -> str:
    """``next post: Wed 02 Dec 2026, 09:00 CET`` in the subscription's own zone."""
    if sub.next_run_at is None:
        return "next post: none scheduled"
    return f"next post: {format_local(sub.next_run_at, sub.timezone)}"
