"""The search syntax (bot/query.py) and its FTS5 translation (storage/fts.py)."""

from __future__ import annotations

import random
import re
import sqlite3
from datetime import date

import pytest

from bot.errors import UserError
from bot.query import (
    LITTLE_WORDS,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    QueryError,
    SearchQuery,
    parse_query,
)
from bot.spelling import compound_pairs, word_variants
from storage.sqlite import available_migrations
from storage.sqlite.fts import (
    TEXT_COLUMNS,
    match_expression,
    phrase_match,
    quote,
    search_sql,
)
from storage.sqlite.word_pairs import JOINER, index_words, register

HOSTILE = [
    '"',
    '""',
    '"""',
    '"a" "',
    "*",
    "a*",
    "*a",
    "NEAR(",
    "NEAR(a b, 3)",
    "a NEAR b",
    "AND",
    "a AND",
    "AND a",
    "OR NOT AND",
    "a OR b",
    "NOT a",
    "(",
    ")",
    "(a",
    "a)",
    "((a))",
    ":",
    "a:",
    ":a",
    "title:x",
    "authors:x",
    "a:b:c",
    "^",
    "^a",
    "a^",
    "{title}: x",
    "- a",
    "--a",
    "-",
    'a -"',
    '-"a b',
    "\x00",
    "a\x00b",
    "a\x1b[31mred",
    "tab\there",
    "new\nline",
    "\u202eevil",
    "zero\u200bwidth",
    "😀 emoji",
    "日本語 検索",
    "café résumé",
    "cafe\u0301",
    "_",
    "a _",
    "snake_case",
    "'single'",
    "`tick`",
    "a+b",
    "c++",
    "x%y",
    "a;b",
    "1.5",
    "\\",
    'a\\"b',
    "author:",
    'author:"',
    'author:"a',
    "author:*",
    "since:",
    "sort:",
]


# A paper's index row as the backend writes it, pairs column included.
_INDEX_ROW = (
    "INSERT INTO papers_fts (rowid, title, keywords, authors, summary, pairs)"
    " VALUES (?1, ?2, ?3, ?4, ?5, word_pairs(?2, ?3, ?4, ?5))"
)


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    """The schema the bundled migrations build, with one paper in the table and its index,
    so MATCH strings meet the real tokenizer and the real search statement."""
    db = sqlite3.connect(":memory:")
    register(db)
    for _, script in available_migrations():
        db.executescript(script)
    paper = (
        "Diffusion transformers",
        "generation",
        "Ada Lovelace",
        "An abstract about c++ and AND.",
    )
    db.execute(
        "INSERT INTO papers (id, paper_key, title, keywords, authors, summary, updated_at)"
        " VALUES (1, 'paper-1', ?, ?, ?, ?, '2026-03-10')",
        paper,
    )
    # The index is written by the backend, not by a trigger (migration 002): rowid = -id.
    db.execute(_INDEX_ROW, (-1, *paper))
    return db


def test_words_all_kept_in_order_lowercased() -> None:
    query = parse_query("Diffusion  Transformers")
    assert query.words == ("diffusion", "transformers")
    assert query.phrases == () and query.excluded == () and query.authors == ()
    assert query.sort == "relevance" and query.since is None


def test_quoted_phrase() -> None:
    query = parse_query('"large language model" agents')
    assert query.phrases == ("large language model",)
    assert query.words == ("agents",)


@pytest.mark.parametrize(
    ("phrase", "expression"),
    [
        # Two words without a little word: one term of the pairs column.
        ("masked autoencoder", 'pairs : "masked\ue000autoencoder"'),
        ("state of the art", 'NEAR("state" "art", 2)'),
        ("attention is all you need", 'NEAR("attention" "all you need", 1)'),
        ("mixture of experts", 'NEAR("mixture" "experts", 1)'),
        # Kept exact: a little word at an end, nothing else, a repeated run,
        # or letters the typed-phrase check cannot fold.
        ("the transformer", '"the transformer"'),
        ("of the", '"of the"'),
        ("end to end", '"end to end"'),
        ("über of the art", '"über of the art"'),
    ],
)
def test_phrase_with_little_words_is_matched_near(phrase: str, expression: str) -> None:
    assert phrase_match(phrase) == expression


def test_quoted_single_word_is_a_word() -> None:
    assert parse_query('"diffusion"').words == ("diffusion",)


def test_unclosed_quote_runs_to_the_end() -> None:
    query = parse_query('agents "large language')
    assert query.words == ("agents",)
    assert query.phrases == ("large language",)


def test_exclusions() -> None:
    query = parse_query('diffusion -video -"text to speech"')
    assert query.words == ("diffusion",)
    assert query.excluded == ("video", "text to speech")


def test_author_plain_and_quoted() -> None:
    query = parse_query('agents author:Liu author:"Shiwei Liu"')
    assert query.authors == ("liu", "shiwei liu")
    assert query.words == ("agents",)


def test_author_key_is_case_insensitive() -> None:
    assert parse_query("x AUTHOR:Liu").authors == ("liu",)


def test_negated_author_excludes_instead_of_requiring() -> None:
    query = parse_query("agents -author:Liu")
    assert query.authors == ()
    assert query.excluded == ("liu",)


def test_author_only_query_is_positive() -> None:
    query = parse_query("author:Liu")
    assert query.has_positive
    assert query.words == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("since:2025-01-31", date(2025, 1, 31)), ('since:"2024-02-29"', date(2024, 2, 29))],
)
def test_since_valid(text: str, expected: date) -> None:
    assert parse_query(f"agents {text}").since == expected


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01", "2025-02-30", "31.01.2025"])
def test_since_invalid(value: str) -> None:
    with pytest.raises(QueryError, match=r"since:.*is not a date like since:2025-01-31"):
        parse_query(f"agents since:{value}")


@pytest.mark.parametrize("sort", ["relevance", "recent", "upvotes", "RECENT"])
def test_sort_valid(sort: str) -> None:
    assert parse_query(f"agents sort:{sort}").sort == sort.casefold()


def test_sort_invalid() -> None:
    with pytest.raises(QueryError, match="sort:newest is unknown"):
        parse_query("agents sort:newest")


def test_unknown_key_value_is_text() -> None:
    query = parse_query("title:diffusion x")
    assert query.words == ("title diffusion", "x")
    assert "title" in match_expression(query)
    # Never a column filter: the whole term is one quoted string (a pair of words).
    assert "title :" not in match_expression(query)
    assert '"title\ue000diffusion"' in match_expression(query)


def test_query_error_is_a_user_error() -> None:
    assert issubclass(QueryError, UserError)


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_query(text: str) -> None:
    with pytest.raises(QueryError, match="Tell me what to search for"):
        parse_query(text)


def test_too_long_query_has_a_clear_message() -> None:
    with pytest.raises(QueryError) as info:
        parse_query("a" * 10_000)
    message = str(info.value)
    assert "10,000 characters" in message
    assert f"at most {MAX_QUERY_CHARS}" in message


def test_longest_allowed_query_parses() -> None:
    assert parse_query("a" * MAX_QUERY_CHARS).words == ("a" * MAX_QUERY_CHARS,)


def test_too_many_terms() -> None:
    parse_query(" ".join(f"w{i}" for i in range(MAX_TERMS)))
    with pytest.raises(QueryError, match=f"{MAX_TERMS + 1} terms; use at most {MAX_TERMS}"):
        parse_query(" ".join(f"w{i}" for i in range(MAX_TERMS + 1)))


def test_terms_limit_counts_every_kind() -> None:
    parts = ["w", '"p q"', "-x", "author:y"] * (MAX_TERMS // 4) + ["one"]
    with pytest.raises(QueryError, match="terms"):
        parse_query(" ".join(parts))


@pytest.mark.parametrize("text", ["-video", '-video -"text to speech"', "-a -b sort:recent"])
def test_only_exclusions_raise(text: str) -> None:
    with pytest.raises(QueryError, match=r"^Exclusions alone match nothing"):
        parse_query(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("since:2025-01-01", "since: and sort: only narrow a search"),
        ("sort:recent", "since: and sort: only narrow a search"),
        ("🤖", "'🤖' has no letters or digits to search for"),
        ('""', "'\"\"' has no letters or digits to search for"),
    ],
)
def test_queries_without_words_say_what_is_missing(text: str, problem: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(text)
    assert str(info.value).startswith(problem)


@pytest.mark.parametrize("text", ["***", "(((", '"', "- -", "^^ :: ()"])
def test_only_punctuation_raises_query_error(text: str) -> None:
    with pytest.raises(QueryError):
        parse_query(text)


# prefix_last -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("diffusion transf", True),
        ("transf", True),
        ("diffusion transf ", True),  # trailing space is stripped before parsing
        ('diffusion "transformer"', False),
        ('"large language"', False),
        ("diffusion -video", False),
        ("diffusion sort:recent", False),
        ("diffusion author:liu", False),
        ("diffusion title:x", False),
        ('c "b c', False),  # the last typed word is inside an (unclosed) quote
        ('"diffusion', False),
    ],
)
def test_prefix_last_rules(text: str, prefix: bool) -> None:
    assert parse_query(text).prefix_last is prefix


def test_prefix_star_only_on_last_word() -> None:
    expression = match_expression(parse_query("diffusion transf"))
    assert expression == (
        '(("diffusion" OR "diffusions")'
        ' AND ({title keywords authors summary} : "transf"* OR "transfs"))'
    )


def test_match_expression_shape() -> None:
    query = parse_query('agents "large language" author:"Shiwei Liu" -video -"text to speech"')
    assert match_expression(query) == (
        '(("agents" OR "agent")'
        ' AND (pairs : "large\ue000language" OR pairs : "large\ue000languages")'
        ' AND authors : "shiwei liu") NOT ("video" OR "videos")'
        ' NOT ("text to speech" OR "text to speeches")'
    )


def test_quote_doubles_embedded_quotes() -> None:
    assert quote('a"b') == '"a""b"'
    # match_expression is safe even on a SearchQuery built by hand.
    expression = match_expression(SearchQuery(words=('x" OR "y',), excluded=('"',)))
    assert expression == '("x"" OR ""y") NOT """"'


# property-style checks over hostile input ------------------------------------
_LITERAL = re.compile(r'"(?:[^"]|"")*"')
_OPERATORS = {"(", ")", "AND", "OR", "NOT", "*", "authors", "pairs", ":", "NEAR", ","}
_OPERATORS |= set(f"{{{TEXT_COLUMNS}}}".split())


def _outside_literals(expression: str) -> list[str]:
    """The tokens of ``expression`` outside every FTS5 string literal, NEAR distances aside."""
    outside = _LITERAL.sub(" ", expression)
    for mark in "(),":
        outside = outside.replace(mark, f" {mark} ")
    return [token for token in outside.split() if not token.isdigit()]


def _hostile_strings() -> list[str]:
    rng = random.Random(20260329)
    alphabet = list('abcXYZ "*():^-_+NEAR AND OR NOT author: since: sort: \x00\x1b\u202e\t\né')
    generated = ["".join(rng.choices(alphabet, k=rng.randint(1, 40))) for _ in range(400)]
    return HOSTILE + generated


def _parsed(text: str) -> SearchQuery | None:
    try:
        return parse_query(text)
    except QueryError:
        return None


def _words_of(literal: str) -> str:
    """The words a MATCH literal stands for: a phrase of pairs ("a·b b·c") is "a b c",
    spelled as the index spells them."""
    if JOINER not in literal:
        return literal
    pairs = [pair.split(JOINER) for pair in literal.split(" ")]
    return " ".join([first for first, _ in pairs] + [pairs[-1][1]])


def test_every_user_term_is_quoted_in_match() -> None:
    checked = 0
    for text in _hostile_strings():
        query = _parsed(text)
        if query is None:
            continue
        checked += 1
        expression = match_expression(query)
        leftovers = set(_outside_literals(expression))
        assert leftovers <= _OPERATORS, (text, expression)
        literals = {_words_of(lit[1:-1].replace('""', '"')) for lit in _LITERAL.findall(expression)}
        terms = {*query.required_words, *query.phrases, *query.excluded, *query.authors}
        assert set(query.words) - set(query.required_words) <= LITTLE_WORDS, text
        joined = {pair for _, pair in compound_pairs(query.required_words) if pair}
        forms = {form for term in terms | joined for form in word_variants(term)}
        forms |= {" ".join(index_words(form)) for form in forms}
        # Every literal is user text or a spelling variant of it (a phrase may
        # be split around little words), and every term but little words is searched.
        for literal in literals:
            assert any(f" {literal} " in f" {form} " for form in forms), (text, expression)
        for term in terms:
            spellings = (f" {term} ", f" {' '.join(index_words(term))} ")
            assert any(f" {lit} " in form for lit in literals for form in spellings), text
    assert checked > 100


def test_normalised_terms_hold_only_word_characters() -> None:
    for text in _hostile_strings():
        query = _parsed(text)
        if query is None:
            continue
        for term in (*query.words, *query.phrases, *query.excluded, *query.authors):
            assert term and term == term.strip(), (text, term)
            assert re.fullmatch(r"[^\W_]+( [^\W_]+)*", term), (text, term)


def test_hostile_match_never_raises_in_sqlite(fts: sqlite3.Connection) -> None:
    for text in _hostile_strings():
        query = _parsed(text)
        if query is None:
            continue
        sql, params = search_sql(query, offset=0, limit=10)
        fts.execute(sql, params).fetchall()


@pytest.mark.parametrize(
    ("text", "hits"),
    [
        ("diffusion", 1),
        ("transformer", 1),  # singular and plural are one word
        ("tokenizer", 0),  # no stemming into a different word
        ("diff", 1),  # prefix on the last word
        ("AND", 1),  # an operator word is only text
        ("c++", 1),
        ("NEAR(diffusion", 0),
        ("diffusion -generation", 0),
        ("author:lovelace diffusion", 1),
        ("author:diffusion", 0),  # column filter: title words are not authors
        ("diffusion _", 1),  # a lone underscore is no term, not an empty phrase
        ("cafe\u0301", 0),
    ],
)
def test_match_results_on_a_tiny_table(fts: sqlite3.Connection, text: str, hits: int) -> None:
    expression = match_expression(parse_query(text))
    rows = fts.execute("SELECT rowid FROM papers_fts WHERE papers_fts MATCH ?", (expression,))
    assert len(rows.fetchall()) == hits


def test_decomposed_accents_match_composed_text() -> None:
    # "café" typed with a combining accent must be one word, not "caf" + "e".
    assert parse_query("cafe\u0301 re\u0301sume\u0301").words == ("café", "résumé")


def test_underscore_splits_like_the_tokenizer() -> None:
    assert parse_query("snake_case x").words == ("snake case", "x")
    with pytest.raises(QueryError):
        parse_query("_ __")


def test_case_is_lowered_not_casefolded(fts: sqlite3.Connection) -> None:
    # casefold() would give "strasse", which the tokenizer never produces for "Straße".
    assert parse_query("Straße").words == ("straße",)
    row = (-2, "Die Straße", "", "", "")
    fts.execute(_INDEX_ROW, row)
    try:
        expression = match_expression(parse_query("STRASSE Straße"))
        assert expression == (
            '(("strasse" OR "strasses")'
            ' AND ({title keywords authors summary} : "straße"* OR "straßes"))'
        )
        hits = fts.execute(
            "SELECT count(*) FROM papers_fts WHERE papers_fts MATCH ?",
            (match_expression(parse_query("Straße")),),
        ).fetchone()[0]
        assert hits == 1
    finally:
        # A contentless index forgets a row only when told its old values.
        fts.execute(
            "INSERT INTO papers_fts (papers_fts, rowid, title, keywords, authors, summary, pairs)"
            " VALUES ('delete', ?1, ?2, ?3, ?4, ?5, word_pairs(?2, ?3, ?4, ?5))",
            row,
        )


def test_little_words_are_not_required_unless_nothing_else_is_asked() -> None:
    question = parse_query("how do transformers work in the brain")
    assert question.words == ("how", "do", "transformers", "work", "in", "the", "brain")
    assert question.required_words == ("transformers", "work", "brain")
    assert "the" not in match_expression(question) and "brain" in match_expression(question)
    assert parse_query("the who").required_words == ("the", "who")
    assert parse_query('the "state of the art"').required_words == ()
    assert parse_query("of author:Liu").required_words == ()
    # A little word typed last is never taken as unfinished.
    assert not parse_query("transformers with").prefix_last
