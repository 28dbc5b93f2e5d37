"""Translate a :class:`~bot.query.SearchQuery` into SQLite FTS5 SQL.

Every user term is emitted inside double quotes, so FTS5 operators typed by a
user (``AND``, ``NEAR(``, ``*``, ``^``, ``:``) are only ever text. The query
parser has already reduced terms to word characters and spaces, but quotes are
still doubled here so this module is safe on its own.

Matching. The index holds words as written (no stemmer: "tokenizer" is not
"token"); each query word matches any of its spelling variants
(:func:`bot.spelling.word_variants`: singular/plural, British/American,
compounds joined, hyphenated or apart), as an OR group.

Ranking. FTS5 decides what matches. The order is a field
score computed on the candidates: for each query word, 10 if the title has it,
6 if Hugging Face's keywords do, 3 if the authors do, else 1 (the abstract),
plus a bonus when the title holds all the words in order; upvotes, then
recency, break ties. FTS5's own bm25() is not used: it computes each term's
inverse document frequency by walking every match of that term in the index,
which for a common word at a million papers costs far more than the 15 ms a
search may take.
"""

from __future__ import annotations

import json
from typing import Any

from bot.query import LITTLE_WORDS, SearchQuery
from bot.spelling import compound_pairs, word_variants
from storage.ranking import (
    ABSTRACT,
    AUTHORS,
    KEYWORDS,
    SEARCH_WINDOW,
    TITLE,
    TITLE_PHRASE_BONUS,
    word_stem,
)
from storage.sqlite.word_pairs import form_pairs

# The index's columns of the papers' own text (the last one, pairs, is derived).
TEXT_COLUMNS = "title keywords authors summary"
# {t} names the ranked row set, which the page's final read joins to papers.
_ORDER = {
    "relevance": "{t}score DESC, {t}upvotes DESC, {t}published_at DESC",
    "recent": "coalesce({t}published_at, {t}featured_on) DESC, {t}upvotes DESC",
    "upvotes": "{t}upvotes DESC, coalesce({t}published_at, {t}featured_on) DESC",
}


def _normalized(column: str) -> str:
    """SQL for ``column`` lower-cased with hyphens, slashes and apostrophes as spaces."""
    return f"replace(replace(replace(lower({column}), '-', ' '), '/', ' '), char(39), ' ')"


def _words(column: str) -> str:
    """SQL for ``column`` normalised, with a leading space and '(' as a space.

    Field checks look for ' ' + stem, so a word only counts where it starts:
    "code" is in "CodeT5" but not in "autoencoders".
    """
    return f"' ' || replace({_normalized(column)}, '(', ' ')"


_TITLE = _words("p.title")
# A phrase matched near (see phrase_match) is checked as typed in these.
_TEXT = "p.title || ' ' || p.summary"
_NORMALIZED_TEXT = _normalized(_TEXT)


def _field_score(name: str, count: int) -> str:
    """SQL scoring one term (any of ``count`` variant parameters) by the best field it is in.

    Scored against the candidates' fields normalised once (see search_sql).
    """
    return (
        f"max({TITLE} * ({_contains_any('c.title_words', name, count)}),"
        f" {KEYWORDS} * ({_contains_any('c.keyword_words', name, count)}),"
        f" {AUTHORS} * ({_contains_any('c.author_words', name, count)}), {ABSTRACT})"
    )


_SCORED_FIELDS = (
    f", {_TITLE} AS title_words, {_words('p.keywords')} AS keyword_words,"
    f" {_words('p.authors')} AS author_words"
)


def quote(term: str) -> str:
    """An FTS5 string literal for ``term``."""
    return '"' + term.replace('"', '""') + '"'


def _near_runs(phrase: str) -> list[str] | None:
    """The runs of content words of ``phrase`` to match near each other, or None when
    FTS5 matches it exactly.

    A phrase with little words inside ("state of the art") would make FTS5
    walk the enormous doclists of "of" and "the"; its content words are
    matched near each other instead, and :func:`search_sql` checks the phrase
    as typed. That check is ASCII-only, so other phrases stay exact in FTS5,
    as does a phrase without two different runs of content words.
    """
    runs: list[list[str]] = [[]]
    for token in phrase.split():
        if token in LITTLE_WORDS:
            runs.append([])
        else:
            runs[-1].append(token)
    # Runs at either end must be content words: NEAR cannot anchor "the" in
    # "the transformer", so such a phrase stays exact.
    if not phrase.isascii() or not runs[0] or not runs[-1]:
        return None
    kept = [" ".join(run) for run in runs if run]
    # NEAR("end" "end") would be met by a single "end", not only "end to end".
    if len(kept) < 2 or len(set(kept)) < len(kept):
        return None
    return kept


def _form(form: str) -> str:
    """The MATCH part for one spelling of a term: a word, or a phrase of several.

    A phrase without a little word is found through the ``pairs`` column
    (:mod:`storage.sqlite.word_pairs`). Two words are one pair, which holds
    exactly the papers FTS5's phrase match finds. A longer phrase is its
    pairs in a row, and FTS5 still checks the phrase itself: pairs in a row
    may stand around a left-out little word ("deep learning and learning
    models" holds "deep learning" and "learning models" in a row), or run from
    one field into the next. Nearly every paper the pairs lead to holds the
    phrase, so that check reads few positions.
    """
    pairs = form_pairs(form)
    if pairs is None:
        return quote(form)
    lookup = f"pairs : {quote(' '.join(pairs))}"
    return lookup if len(pairs) == 1 else f"({lookup} AND {quote(form)})"


def _prefix(word: str) -> str:
    """The MATCH part for ``word`` as the start of a word of the papers' text.

    The column filter keeps FTS5 from expanding the prefix over the terms of
    the pairs column, which hold no word the text columns lack.
    """
    return f"{{{TEXT_COLUMNS}}} : {quote(word)}*"


def phrase_match(phrase: str) -> str:
    """The MATCH part for a quoted phrase: exact, or its content words near each other
    (see :func:`_near_runs`)."""
    runs = _near_runs(phrase)
    if runs is None:
        return _form(phrase)
    gap = len(phrase.split()) - sum(len(run.split()) for run in runs)
    return f"NEAR({' '.join(quote(run) for run in runs)}, {gap})"


def _any_of(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def word_group(word: str) -> str:
    """The MATCH part for one word: any of its spelling variants."""
    return _any_of([_form(form) for form in word_variants(word)])


def match_expression(query: SearchQuery) -> str:
    """The MATCH string for ``query``: all positive parts AND-ed, exclusions NOT-ed.

    Each word and phrase is an OR group of its spelling variants; an
    unfinished last word is its prefix or one of its variants.
    """
    parts: list[str] = []
    groups = compound_pairs(query.required_words)
    last = len(groups) - 1
    for index, (word, joined) in enumerate(groups):
        if query.prefix_last and index == last and joined is None:
            forms = word_variants(word)
            parts.append(_any_of([_prefix(word), *(_form(form) for form in forms[1:])]))
        elif joined is not None:
            first, second = word.split()
            apart = f"({word_group(first)} AND {word_group(second)})"
            parts.append(f"({apart} OR {word_group(joined)})")
        else:
            parts.append(word_group(word))
    for phrase in query.phrases:
        parts.append(_any_of([phrase_match(form) for form in word_variants(phrase)]))
    parts.extend(f"authors : {quote(name)}" for name in query.authors)
    expression = "(" + " AND ".join(parts) + ")"
    for term in query.excluded:
        expression += f" NOT {word_group(term)}"
    return expression


def _contains_any(column: str, name: str, count: int) -> str:
    """SQL: ``column`` holds any of the parameters ``name0`` .. ``name{count-1}``."""
    return " OR ".join(f"instr({column}, :{name}_{i}) > 0" for i in range(count))


def filters(query: SearchQuery, params: dict[str, Any]) -> list[str]:
    """The conditions on papers ``p`` beyond MATCH (since:, phrases as typed); adds their
    parameters to ``params``."""
    where: list[str] = []
    if query.since:
        where.append("coalesce(p.published_at, p.featured_on) >= :since")
        params["since"] = query.since.isoformat()
    for index, phrase in enumerate(query.phrases):
        forms = word_variants(phrase)
        # Only phrases matched near (little words inside) need the check; FTS5
        # matches the others exactly, and checking every candidate's abstract
        # cost a phrase search 3-7 ms at a million papers.
        if any(_near_runs(form) is not None for form in forms):
            where.append(f"({_contains_any(_NORMALIZED_TEXT, f'phrase{index}', len(forms))})")
            params.update({f"phrase{index}_{i}": form for i, form in enumerate(forms)})
    return where


def matching_sql(query: SearchQuery, keys: list[str]) -> tuple[str, dict[str, Any]]:
    """The SQL statement and named parameters that pick the papers among ``keys`` that
    match ``query``: the same MATCH and conditions as :func:`search_sql`, no ranking."""
    params: dict[str, Any] = {"match": match_expression(query), "keys": json.dumps(keys)}
    where = filters(query, params)
    sql = (
        "SELECT p.paper_key FROM papers_fts JOIN papers p ON p.id = -papers_fts.rowid"
        " WHERE papers_fts MATCH :match AND papers_fts.rowid IN"
        " (SELECT -id FROM papers WHERE paper_key IN (SELECT value FROM json_each(:keys)))"
        + "".join(f" AND {condition}" for condition in where)
    )
    return sql, params


def search_sql(
    query: SearchQuery, offset: int, limit: int, window: int = SEARCH_WINDOW
) -> tuple[str, dict[str, Any]]:
    """The SQL statement and named parameters that run ``query``."""
    params: dict[str, Any] = {
        "match": match_expression(query),
        "window": window,
        "limit": limit,
        "offset": offset,
    }
    where = filters(query, params)
    scores = []
    # Only relevance order reads the score; other orders skip the string work.
    terms = (*query.words, *query.phrases) if query.sort == "relevance" else ()
    for index, term in enumerate(terms):
        stems = list(dict.fromkeys(" " + word_stem(form) for form in word_variants(term)))
        scores.append(_field_score(f"term{index}", len(stems)))
        params.update({f"term{index}_{i}": stem for i, stem in enumerate(stems)})
    if len(scores) > 1:
        scores.append(f"{TITLE_PHRASE_BONUS} * (instr(c.title_words, :all_terms) > 0)")
        params["all_terms"] = " " + word_stem(" ".join(terms))
    score = " + ".join(scores) or "0"
    # Three steps, so the expensive parts touch as few rows as possible: FTS5
    # picks the newest matches, the candidates' fields are normalised once
    # each (MATERIALIZED stops SQLite from re-inlining them into every term's
    # score), and only the page's rows are read in full.
    sql = (
        "WITH hits AS (SELECT -rowid AS id FROM papers_fts WHERE papers_fts MATCH :match"
        " ORDER BY rowid LIMIT :window),"
        " candidates AS MATERIALIZED (SELECT p.id, p.upvotes, p.published_at, p.featured_on"
        + (_SCORED_FIELDS if scores else "")
        + " FROM hits JOIN papers p ON p.id = hits.id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + "),"
        f" page AS (SELECT c.*, {score} AS score, count(*) OVER () AS total FROM candidates c"
        f" ORDER BY {_ORDER[query.sort].format(t='')} LIMIT :limit OFFSET :offset)"
        " SELECT p.*, page.score, page.total FROM page JOIN papers p ON p.id = page.id"
        f" ORDER BY {_ORDER[query.sort].format(t='page.')}"
    )
    return sql, params
