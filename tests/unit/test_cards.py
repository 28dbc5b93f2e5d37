"""Display cards from stored papers (bot/cards.py)."""

from __future__ import annotations

import random
import unicodedata
from datetime import date

import pytest

from bot.cards import (
    DETAIL_AUTHORS,
    DETAIL_SUMMARY_CHARS,
    LIST_AUTHORS,
    LIST_SUMMARY_CHARS,
    clean_text,
    format_authors,
    paper_card,
    paper_links,
    shorten,
)
from bot.models import Link, Paper

LOREM = (
    "Diffusion models have become the de facto standard for image generation, yet their "
    "sampling remains slow. We propose a distillation scheme that reaches comparable quality "
    "in four steps, and we show that it transfers to video and audio without retraining."
)


# clean_text ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\x00b", "a b"),
        ("\x1b[31mred\x1b[0m", "[31mred [0m"),
        ("safe\u202eexe.txt", "safeexe.txt"),
        ("\u2066isolate\u2069d", "isolated"),
        ("\ufeffBOM at start", "BOM at start"),
        ("co\u00adoperation", "cooperation"),  # soft hyphen: invisible, inside a word
        ("line\nbreak\r\nand\ttab", "line break and tab"),
        ("  many    spaces\u00a0and\u2003wide  ", "many spaces and wide"),
        ("para\u2029graph\u2028line", "para graph line"),
        ("bell\x07 del\x7f c1\x85", "bell del c1"),
        ("Ünïcödé 数学 🙂", "Ünïcödé 数学 🙂"),
        ("", ""),
        ("\x00\x01\u202e", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_text_leaves_no_control_or_format_characters() -> None:
    rng = random.Random(7)
    pool = [chr(c) for c in (*range(0, 0x30), *range(0x7F, 0xA1), 0x200B, 0x200E, 0x202A, 0x2066)]
    pool += list("abc xyz")
    for _ in range(300):
        text = clean_text("".join(rng.choices(pool, k=40)))
        assert all(unicodedata.category(ch)[0] != "C" for ch in text), repr(text)
        assert "  " not in text and text == text.strip()


# shorten -----------------------------------------------------------------------
def test_shorten_leaves_short_text() -> None:
    assert shorten("short", 5) == "short"
    assert shorten("", 3) == ""


def test_shorten_cuts_at_word_boundary_with_ellipsis() -> None:
    result = shorten(LOREM, 60)
    assert result.endswith("…") and len(result) <= 60
    body = result[:-1]
    assert LOREM.startswith(body)
    # The cut falls between words: the next character of the original is a space.
    assert LOREM[len(body)] == " "
    assert not body.endswith((" ", ",", "."))


def test_shorten_strips_trailing_punctuation() -> None:
    assert shorten("one, two, three, four", 11) == "one, two…"


def test_shorten_long_word_is_cut_hard() -> None:
    assert shorten("x" * 50, 10) == "x" * 9 + "…"


@pytest.mark.parametrize("limit", range(0, 80))
def test_shorten_never_exceeds_the_limit(limit: int) -> None:
    for text in (LOREM, "x" * 100, "a " * 60, "word " * 3):
        assert len(shorten(text, limit)) <= limit


# authors ------------------------------------------------------------------------
def test_format_authors() -> None:
    assert format_authors((), 3) == "unknown authors"
    assert format_authors(("", "  "), 3) == "unknown authors"
    assert format_authors(("Ada Lovelace",), 3) == "Ada Lovelace"
    assert format_authors(("A", "B", "C"), 3) == "A, B, C"
    assert format_authors(("A", "B", "C", "D"), 3) == "A, B, C et al. (4 authors)"
    assert (
        format_authors(("  Ada\nLovelace ", "\x00Alan Turing\x1b"), 3)
        == "Ada Lovelace, Alan Turing"
    )


def test_format_authors_skips_names_that_clean_to_nothing() -> None:
    assert format_authors(("A", "\x00\u202e", "B"), 3) == "A, B"
    assert format_authors(("\x1b",), 3) == "unknown authors"


# links and cards -------------------------------------------------------------------
FULL = Paper(
    title="Fast\x00 Diffusion\u202e",
    arxiv_id="2603.01234",
    summary=LOREM * 20,
    authors=tuple(f"Author {n}" for n in range(30)),
    published_at=date(2026, 3, 5),
    featured_on=date(2026, 3, 9),
    upvotes=42,
    ai_summary="Four-step diffusion that transfers to video.",
    github_repo="https://github.com/example/fast",
    project_page="https://example.org/fast",
)


def test_links_with_arxiv_id() -> None:
    assert paper_links(FULL) == (
        Link("Hugging Face", "https://huggingface.co/papers/2603.01234"),
        Link("arXiv", "https://arxiv.org/abs/2603.01234"),
        Link("GitHub", "https://github.com/example/fast"),
        Link("Project page", "https://example.org/fast"),
    )


def test_card_without_arxiv_id_or_links() -> None:
    paper = Paper(title="Seed paper", summary="Abstract.")
    card = paper_card(paper, 1)
    assert card.links == () and card.url is None and card.arxiv_id is None
    assert card.date == "date unknown" and card.rank == 1


def test_card_without_arxiv_id_keeps_github_link() -> None:
    paper = Paper(title="Seed", github_repo="https://github.com/x/y")
    card = paper_card(paper)
    assert card.links == (Link("GitHub", "https://github.com/x/y"),)
    assert card.url == "https://github.com/x/y"


def test_list_card_prefers_ai_summary_and_few_authors() -> None:
    card = paper_card(FULL, 3)
    assert card.title == "Fast Diffusion"
    assert card.url == "https://huggingface.co/papers/2603.01234"
    assert card.summary == FULL.ai_summary
    assert card.authors.startswith("Author 0, Author 1, Author 2 et al. (30 authors)")
    assert card.authors.count(",") == LIST_AUTHORS - 1
    assert card.date == "2026-03-09"  # featured day first
    assert (card.upvotes, card.rank, card.arxiv_id) == (42, 3, "2603.01234")


def test_detailed_card_prefers_abstract() -> None:
    card = paper_card(FULL, detailed=True)
    assert card.summary.startswith(LOREM[:100])
    assert len(card.summary) <= DETAIL_SUMMARY_CHARS and card.summary.endswith("…")
    assert card.authors.count(",") == DETAIL_AUTHORS - 1
    assert card.rank is None


def test_list_card_shortens_abstract_when_no_ai_summary() -> None:
    paper = Paper(title="T", arxiv_id="2603.00001", summary=LOREM * 3)
    card = paper_card(paper)
    assert len(card.summary) <= LIST_SUMMARY_CHARS and card.summary.endswith("…")


def test_detailed_card_falls_back_to_ai_summary() -> None:
    paper = Paper(title="T", ai_summary="Only the AI summary.")
    assert paper_card(paper, detailed=True).summary == "Only the AI summary."


def test_card_placeholders() -> None:
    card = paper_card(Paper(title="\x00\u202e", published_at=date(2026, 1, 2)))
    assert card.title == "(untitled)"
    assert card.summary == "No abstract available."
    assert card.authors == "unknown authors"
    assert card.date == "2026-01-02"
