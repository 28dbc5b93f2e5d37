"""The pairs column of the search index: the same papers as FTS5's own phrase match."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from bot.models import Paper
from bot.query import LITTLE_WORDS, parse_query
from bot.spelling import word_variants
from storage.sqlite import SqliteStorage, available_migrations
from storage.sqlite.fts import match_expression, quote
from storage.sqlite.word_pairs import JOINER, TOKENIZER, form_pairs, index_words, register

# Words that exercise the tokenizer: case, digits, diacritics (composed and
# not), a ligature, Greek, CJK, and little words (never paired).
_WORDS = [
    "Graph", "graph", "networks", "GPT4o", "naïve", "naive", "Bayes", "cafe\u0301", "café",
    "Straße", "ﬁne", "fine", "tuning", "α", "helix", "中文", "of", "the", "in", "model", "models",
    "x2", "2x", "Élan", "elan",
]  # fmt: skip
# Separators between words: spaces, punctuation, symbols, curly quotes, an
# underscore, a zero-width space.
_GAPS = [" ", "  ", "-", "/", "'", ", ", ". ", "(", ") ", "\u2014", "\u201c", "_", "+", "\u200b"]


def _texts(rng: random.Random, count: int) -> Iterator[str]:
    for _ in range(count):
        words = rng.choices(_WORDS, k=rng.randint(0, 9))
        yield "".join(word + rng.choice(_GAPS) for word in words)


def _sqlite_words(text: str) -> list[str]:
    """The search index tokenizer's words of ``text``, read back from a real FTS5 index."""
    with closing(sqlite3.connect(":memory:")) as db:
        db.execute(f"CREATE VIRTUAL TABLE t USING fts5 (x, tokenize='{TOKENIZER}')")
        db.execute("CREATE VIRTUAL TABLE v USING fts5vocab (t, instance)")
        db.execute("INSERT INTO t (x) VALUES (?)", (text,))
        return [term for (term,) in db.execute("SELECT term FROM v ORDER BY offset")]


def test_words_are_the_tokenizers_own_for_ascii_and_any_other_text() -> None:
    rng = random.Random(7)
    ascii_noise = [
        "".join(rng.choices("aZ09 -_'.,;:!?()[]{}<>@#$%^&*+=~`|\\/\"\t\n", k=30))
        for _ in range(200)
    ]
    checked = 0
    for text in [*_texts(rng, 300), *ascii_noise, "", "   ", "ǅemal İstanbul x²"]:
        assert index_words(text) == _sqlite_words(text), text
        checked += not text.isascii()
    assert checked > 100  # the non-ASCII path was exercised, not only the fast one


def test_the_migrations_index_uses_the_tokenizer_the_pairs_follow() -> None:
    with closing(sqlite3.connect(":memory:")) as db:
        register(db)
        for _, script in available_migrations():
            db.executescript(script)
        (definition,) = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'papers_fts'"
        ).fetchone()
    assert f"tokenize = '{TOKENIZER}'" in definition and "pairs" in definition


def test_pairs_only_for_phrases_without_a_little_word() -> None:
    assert form_pairs("masked autoencoder") == [f"masked{JOINER}autoencoder"]
    assert form_pairs("Naïve-Bayes") == [f"naive{JOINER}bayes"]
    assert form_pairs("large language model") == [
        f"large{JOINER}language",
        f"language{JOINER}model",
    ]
    assert form_pairs("state of") is None
    assert form_pairs("the art") is None
    assert form_pairs("state of the art") is None
    assert form_pairs("transformer") is None


def test_little_words_are_those_the_stored_pairs_left_out() -> None:
    # Stored pairs leave little words out; changing the set needs a migration
    # that rebuilds the index (as 012 does), or phrases with a word that
    # stopped being little would match nothing.
    digest = hashlib.sha256(" ".join(sorted(LITTLE_WORDS)).encode()).hexdigest()
    assert digest[:16] == "a3caeaa6c8496edc", "LITTLE_WORDS changed: rebuild the pairs column"


@pytest.fixture
def index() -> Iterator[sqlite3.Connection]:
    """The bundled schema with 400 papers of tokenizer-testing text, indexed as the backend
    indexes them."""
    with closing(sqlite3.connect(":memory:")) as db:
        register(db)
        for _, script in available_migrations():
            db.executescript(script)
        rng = random.Random(11)
        for n in range(1, 401):
            title, keywords, authors, summary = (next(_texts(rng, 1)) for _ in range(4))
            db.execute(
                "INSERT INTO papers (id, paper_key, title, keywords, authors, summary, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'now')",
                (n, f"p{n}", title, keywords, authors, summary),
            )
        db.execute(
            "INSERT INTO papers_fts (rowid, title, keywords, authors, summary, pairs)"
            " SELECT -id, title, keywords, authors, summary,"
            " word_pairs(title, keywords, authors, summary) FROM papers ORDER BY id DESC"
        )
        yield db


def _rowids(db: sqlite3.Connection, expression: str) -> set[int]:
    rows = db.execute("SELECT rowid FROM papers_fts WHERE papers_fts MATCH ?", (expression,))
    return {rowid for (rowid,) in rows}


def test_a_pair_finds_exactly_the_papers_fts5s_phrase_finds(index: sqlite3.Connection) -> None:
    found = 0
    for first in _WORDS:
        for second in _WORDS:
            pairs = form_pairs(f"{first} {second}")
            if pairs is None:
                continue
            exact = _rowids(index, quote(" ".join(index_words(f"{first} {second}"))))
            assert _rowids(index, f"pairs : {quote(pairs[0])}") == exact, (first, second)
            found += len(exact)
    assert found > 500


def test_longer_phrases_find_exactly_what_fts5s_phrase_finds(index: sqlite3.Connection) -> None:
    rng = random.Random(5)
    # Phrases with a little word are matched near, and checked as typed apart from MATCH.
    words = [word for word in _WORDS if word not in LITTLE_WORDS]
    found = 0
    for _ in range(400):
        phrase = " ".join(rng.choices(words, k=rng.randint(3, 4)))
        expression = match_expression(parse_query(quote(phrase)))
        plain = " OR ".join(
            quote(form) for form in word_variants(parse_query(quote(phrase)).phrases[0])
        )
        exact = _rowids(index, plain)
        assert _rowids(index, expression) == exact, phrase
        found += len(exact)
    assert found > 20


def test_pairs_in_a_row_around_a_little_word_are_no_phrase(index: sqlite3.Connection) -> None:
    # The pairs column holds "deep learning" then "learning models" in a row (the
    # pairs with "and" are left out); the phrase itself is not there.
    index.execute(
        "INSERT INTO papers_fts (rowid, title, keywords, authors, summary, pairs)"
        " VALUES (-9000, 'deep learning and learning models', 'models deep', '', '',"
        " word_pairs('deep learning and learning models', 'models deep', '', ''))"
    )
    assert _rowids(index, f'pairs : "deep{JOINER}learning learning{JOINER}models"') == {-9000}
    assert -9000 not in _rowids(index, match_expression(parse_query('"deep learning models"')))
    assert -9000 in _rowids(index, match_expression(parse_query('"learning models"')))
    # Nor across fields: the title's last pair and the keywords' first are in a row too.
    assert -9000 not in _rowids(index, match_expression(parse_query('"learning models deep"')))


def test_phrases_and_compounds_in_queries_use_pairs_with_the_same_results(
    index: sqlite3.Connection,
) -> None:
    for text, plain in [
        ('"graph networks"', '"graph networks" OR "graph network"'),
        ("fine-tuning", '"fine tuning" OR "fine tunings" OR "finetuning" OR "finetunings"'),
        ('"naive bayes"', '"naive bayes" OR "naive baye"'),
        ('"cafe\u0301 graph"', '"café graph" OR "café graphs"'),
    ]:
        expression = match_expression(parse_query(text))
        assert "pairs :" in expression
        assert _rowids(index, expression) == _rowids(index, plain) != set(), text


async def test_a_paper_whose_text_changes_or_goes_leaves_its_pairs(tmp_path: Path) -> None:
    store = await SqliteStorage.open(tmp_path / "paperbot.db")
    try:
        await store.upsert_papers([Paper(title="Sparse graph networks", arxiv_id="2603.00001")])
        assert await _titles(store, '"graph networks"') == ["Sparse graph networks"]
        await store.upsert_papers([Paper(title="Dense graph models", arxiv_id="2603.00001")])
        assert await _titles(store, '"graph networks"') == []
        assert await _titles(store, '"graph models"') == ["Dense graph models"]
    finally:
        await store.close()
    with closing(sqlite3.connect(tmp_path / "paperbot.db")) as db:
        register(db)
        db.execute("DELETE FROM papers")
        db.commit()
        assert _rowids(db, f'pairs : "graph{JOINER}models"') == set()
        db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('integrity-check')")


async def _titles(store: SqliteStorage, text: str) -> list[str]:
    page = await store.search(parse_query(text), 0, 10)
    return [paper.title for paper in page.papers]
