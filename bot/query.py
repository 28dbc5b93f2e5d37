"""The search syntax users type, parsed into a backend-neutral :class:`SearchQuery`.

Syntax: words (all must match), ``"exact phrase"``, ``-word`` or ``-"phrase"`` to
exclude, ``author:Name`` (or ``author:"First Last"``), ``since:YYYY-MM-DD``,
``sort:relevance|recent|upvotes``. Everything else is plain text: characters
that mean something to a search engine (``*``, ``(``, ``^``, ``NEAR``...) are
never passed through as operators. ``-author:Name`` excludes the name like
``-word`` does. A bare last word may be unfinished and matches as a prefix.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from bot.cards import shorten
from bot.errors import UserError

MAX_QUERY_CHARS = 300
# A researcher may describe what they look for in a sentence (semantic search reads it).
MAX_TERMS = 32
MIN_PREFIX_CHARS = 3
SORTS = ("relevance", "recent", "upvotes")
# Little words: in nearly every abstract, so requiring them narrows nothing while
# the full-text index walks its longest lists (a question of little words took
# 120 ms at a million papers); and a question's own words ("how", "why") say
# what is asked, not what is sought. Keyword search matches the other words, a
# quoted phrase keeps them, and semantic search leaves them out of the query.
# fmt: off
LITTLE_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from",
    "how", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their",
    "this", "to", "was", "we", "were", "what", "when", "which", "while", "who", "why",
    "with", "without",
})
# fmt: on

# A token is a quoted run, or a run of non-space characters; an optional
# leading "-" and "key:" prefix may sit before the quotes.
_TOKEN_RE = re.compile(r'(-?)(?:(\w+):)?(?:"([^"]*)"?|(\S+))')
# Letters and digits; "_" separates words, as it does for the FTS5 tokenizer.
_WORD_CHARS = re.compile(r"[^\W_]+")


class QueryError(UserError):
    """The query cannot be searched; the message is shown to the user as is."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed search request.

    Each entry of ``words`` and ``phrases`` is already normalised to word
    characters separated by single spaces; ``prefix_last`` says the last
    entry of ``words`` may be an unfinished word.
    """

    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    since: date | None = None
    sort: str = "relevance"
    prefix_last: bool = False

    @property
    def required_words(self) -> tuple[str, ...]:
        """The words a keyword match must hold: all but little words, unless nothing else
        is asked for (a query of little words only still needs them)."""
        kept = tuple(word for word in self.words if word not in LITTLE_WORDS)
        return kept if kept or self.phrases or self.authors else self.words

    @property
    def has_positive(self) -> bool:
        """True when the query asks for something, not only exclusions."""
        return bool(self.words or self.phrases or self.authors)


def _normal(text: str) -> str:
    """Word characters only, lower-cased, single-spaced.

    NFC first, so a letter typed with a combining accent stays one word; and
    ``lower`` rather than ``casefold``, which would turn "Straße" into a
    "strasse" the index (folded by the FTS5 tokenizer itself) never holds.
    """
    return " ".join(_WORD_CHARS.findall(unicodedata.normalize("NFC", text).lower()))


def _parse_since(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"since:{value} is not a date like since:2025-01-31") from None


def parse_query(text: str) -> SearchQuery:
    """Parse user text into a :class:`SearchQuery` or raise :class:`QueryError`."""
    text = text.strip()
    if not text:
        raise QueryError("Tell me what to search for, e.g. /search language model")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"That query is {len(text):,} characters long; use at most {MAX_QUERY_CHARS}."
        )
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    authors: list[str] = []
    since: date | None = None
    sort = "relevance"
    # Whether the last token typed is a bare word, i.e. possibly unfinished.
    prefix_candidate = False
    for match in _TOKEN_RE.finditer(text):
        negate, key, quoted, bare = match.groups()
        value = quoted if quoted is not None else (bare or "")
        key = (key or "").casefold()
        prefix_candidate = False
        if key == "author":
            if name := _normal(value):
                # "-author:Name" must not turn into a requirement for that author.
                (excluded if negate else authors).append(name)
            continue
        if key == "since":
            since = _parse_since(value)
            continue
        if key == "sort":
            if value.casefold() not in SORTS:
                raise QueryError(f"sort:{value} is unknown; use sort:relevance, recent or upvotes")
            sort = value.casefold()
            continue
        if key:
            # Not our syntax ("a:b"): keep both halves as plain words.
            value = f"{key} {value}"
        term = _normal(value)
        if not term:
            continue
        if negate:
            excluded.append(term)
        elif quoted is not None and " " in term:
            phrases.append(term)
        else:
            words.append(term)
            # A prefix under three characters would expand to a large part of
            # the vocabulary, so such a word is never taken as unfinished.
            prefix_candidate = (
                quoted is None
                and not key
                and ":" not in value
                and term not in LITTLE_WORDS
                and len(term.rsplit(" ", 1)[-1]) >= MIN_PREFIX_CHARS
            )
    total = len(words) + len(phrases) + len(excluded) + len(authors)
    if total > MAX_TERMS:
        raise QueryError(f"That query has {total} terms; use at most {MAX_TERMS}.")
    query = SearchQuery(
        words=tuple(words),
        phrases=tuple(phrases),
        excluded=tuple(excluded),
        authors=tuple(authors),
        since=since,
        sort=sort,
        prefix_last=prefix_candidate and not text.endswith('"'),
    )
    if not query.has_positive:
        raise QueryError(_nothing_to_search(text, query))
    return query


def _nothing_to_search(text: str, query: SearchQuery) -> str:
    """Why a query without a positive term cannot run, in the user's terms."""
    example = "e.g. /search llm -video since:2025-01-01"
    if query.excluded:
        return f"Exclusions alone match nothing: add a word to search for, {example}."
    if query.since is not None or "sort:" in text.casefold():
        return f"since: and sort: only narrow a search: add a word to search for, {example}."
    return (
        f"{shorten(text, 40)!r} has no letters or digits to search for;"
        f" search with words, {example}."
    )
