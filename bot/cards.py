"""Turning stored papers into display cards (plain text; adapters escape it)."""

from __future__ import annotations

import re
import unicodedata

from bot.models import Link, Paper, PaperCard

LIST_SUMMARY_CHARS = 280
DETAIL_SUMMARY_CHARS = 3000
LIST_AUTHORS = 3
DETAIL_AUTHORS = 25

_SPACE_RE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Collapse whitespace and drop control and format characters.

    Paper text comes from outside; control characters (NUL, escape codes,
    bidi overrides) must never reach a terminal or a chat message. Control
    characters (``Cc``: NUL, ESC, tabs, line breaks) count as spaces; format
    and other invisible characters (soft hyphen, zero-width joiner, bidi
    controls) are removed without a trace, so they never split a word in two.
    """
    return _SPACE_RE.sub(" ", "".join(map(_visible, text))).strip()


def _visible(ch: str) -> str:
    """``ch`` itself, a space for a control character, nothing for other ``C*``."""
    category = unicodedata.category(ch)
    if category[0] != "C":
        return ch
    return " " if category == "Cc" else ""


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary so it fits ``limit`` characters with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


def format_authors(authors: tuple[str, ...], limit: int) -> str:
    """``A, B, C et al.`` with at most ``limit`` names."""
    names = [name for name in map(clean_text, authors) if name]
    if not names:
        return "unknown authors"
    if len(names) > limit:
        return ", ".join(names[:limit]) + f" et al. ({len(names)} authors)"
    return ", ".join(names)


def paper_links(paper: Paper) -> tuple[Link, ...]:
    """Hugging Face, arXiv, GitHub and project links, those that are known."""
    links = []
    if paper.hf_url:
        links.append(Link("Hugging Face", paper.hf_url))
    if paper.arxiv_url:
        links.append(Link("arXiv", paper.arxiv_url))
    if paper.github_repo:
        links.append(Link("GitHub", paper.github_repo))
    if paper.project_page:
        links.append(Link("Project page", paper.project_page))
    return tuple(links)


def paper_card(paper: Paper, rank: int | None = None, *, detailed: bool = False) -> PaperCard:
    """A card for lists (short summary) or for ``/paper`` (full abstract)."""
    if detailed:
        summary = shorten(clean_text(paper.summary or paper.ai_summary or ""), DETAIL_SUMMARY_CHARS)
        authors = format_authors(paper.authors, DETAIL_AUTHORS)
    else:
        summary = shorten(clean_text(paper.ai_summary or paper.summary), LIST_SUMMARY_CHARS)
        authors = format_authors(paper.authors, LIST_AUTHORS)
    day = paper.day
    links = paper_links(paper)
    return PaperCard(
        title=clean_text(paper.title) or "(untitled)",
        url=links[0].url if links else None,
        authors=authors,
        date=day.isoformat() if day else "date unknown",
        upvotes=paper.upvotes or 0,
        summary=summary or "No abstract available.",
        links=links,
        rank=rank,
        arxiv_id=paper.arxiv_id,
    )
