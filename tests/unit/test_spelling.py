"""Spelling variants: the same word written differently finds the same papers."""

from __future__ import annotations

import pytest

from bot.ports.storage import Storage
from bot.query import parse_query
from bot.spelling import compound_pairs, split_compound, word_variants
from tests.support import make_paper

PAPERS = [
    make_paper("2601.00001", "Continual pre-training of language models"),
    make_paper("2601.00002", "Pretraining data at scale", summary="Web crawls."),
    make_paper("2601.00003", "Why pre training helps", summary="An analysis."),
    make_paper("2601.00004", "Post-training quantization for LLMs"),
    make_paper("2601.00005", "Layer normalisation in deep networks"),
    make_paper("2601.00006", "Open-domain dialog systems"),
    make_paper("2601.00007", "A byte-level tokenizer", summary="Tokenizers matter."),
    make_paper("2601.00008", "Token merging for vision", summary="Fewer tokens, faster."),
    make_paper("2601.00009", "Language modelling with memory"),
]


@pytest.fixture
async def store(store: Storage) -> Storage:
    """The conftest's store on each backend, with the papers above."""
    await store.upsert_papers(PAPERS)
    return store


async def ids(store: Storage, text: str) -> set[str | None]:
    page = await store.search(parse_query(text), 0, 20)
    return {paper.arxiv_id for paper in page.papers}


@pytest.mark.parametrize("text", ["pretraining", "pre-training", "pre training", "Pre-Training"])
async def test_compounds_joined_hyphenated_or_apart_are_one_word(store: Storage, text: str) -> None:
    assert await ids(store, text) == {"2601.00001", "2601.00002", "2601.00003"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("quantisation", {"2601.00004"}),
        ("quantization", {"2601.00004"}),
        ("normalization", {"2601.00005"}),
        ("dialogue", {"2601.00006"}),
        ("modeling", {"2601.00009"}),
        ("modelling", {"2601.00009"}),
    ],
)
async def test_british_and_american_spellings_match(
    store: Storage, text: str, expected: set[str]
) -> None:
    assert await ids(store, text) == expected


async def test_no_stemming_into_a_different_word(store: Storage) -> None:
    assert await ids(store, "tokenizer") == {"2601.00007"}
    assert await ids(store, "tokenizers") == {"2601.00007"}
    assert await ids(store, "token") == {"2601.00008"}


async def test_exclusions_exclude_every_variant(store: Storage) -> None:
    assert await ids(store, "training -pretraining") == {"2601.00004"}


async def test_separate_words_still_match_anywhere(store: Storage) -> None:
    # "post" and "training" are far apart here, yet both present: still a match.
    assert await ids(store, "post training") == {"2601.00004"}
    assert compound_pairs(("post", "training", "data")) == [
        ("post training", "posttraining"),
        ("data", None),
    ]


def test_variants() -> None:
    assert word_variants("models")[:2] == ("models", "model")
    assert "quantization" in word_variants("quantisation")
    assert "pre training" in word_variants("pretraining")
    assert "pretraining" in word_variants("pre training")
    assert "token" not in word_variants("tokenizer")
    assert split_compound("pretraining") == "pre training"
    assert split_compound("prefix") is None
