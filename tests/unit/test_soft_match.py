"""Word-by-word matching by meaning (bot/soft_match.py) and the word vectors behind it."""

from __future__ import annotations

import numpy as np
import pytest

from bot.embedders.wordllama import WordLlamaEmbedder
from bot.plugins import load_embedder
from bot.ports.embedder import WordEmbedder
from bot.soft_match import rarity_weights, soft_match


@pytest.fixture(scope="module")
def embedder() -> WordLlamaEmbedder:
    loaded = load_embedder("wordllama")
    assert isinstance(loaded, WordLlamaEmbedder)
    return loaded


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def test_word_vectors_are_the_words_own_text_vectors(embedder: WordLlamaEmbedder) -> None:
    assert isinstance(embedder, WordEmbedder)
    terms = ["thermal", "infrared", "pretraining", "thermal", "", "transformers"]
    by_word = embedder.embed_words(terms)
    assert by_word.shape == (6, embedder.dimensions) and by_word.dtype == np.float32
    np.testing.assert_allclose(by_word, embedder.embed(terms), atol=1e-5)
    assert not by_word[4].any()
    assert embedder.embed_words([]).shape == (0, embedder.dimensions)


def test_word_vector_memory_starts_over_when_full(embedder: WordLlamaEmbedder) -> None:
    small = WordLlamaEmbedder(embedder._model, word_vectors=3)
    first = ["graph", "neural", "network"]
    second = ["speech", "audio", "graph"]
    too_many = ["a1", "b2", "c3", "d4", "graph"]
    for batch in (first, second, too_many, first):
        np.testing.assert_allclose(small.embed_words(batch), embedder.embed(batch), atol=1e-5)


def test_rarity_weights_favour_words_few_documents_hold() -> None:
    documents = [words("thermal images"), words("rgb images"), words("depth images")]
    thermal, images, absent = rarity_weights(["thermal", "images", "sonar"], documents)
    assert absent > thermal > images > 0


def test_a_synonym_counts_and_rare_words_count_most(embedder: WordLlamaEmbedder) -> None:
    documents = {
        "infrared": (words("segmenting infrared images at night"), words("infrared images")),
        "colour": (words("segmenting colour images by day"), words("colour images")),
        "empty": (frozenset(), frozenset()),
    }
    scores = soft_match(embedder, ["thermal", "camera", "images"], documents)
    assert scores["infrared"] > scores["colour"] > scores["empty"] == 0.0


def test_the_title_adds_to_the_whole_text(embedder: WordLlamaEmbedder) -> None:
    text = words("we quantize weights to four bits")
    documents = {
        "in title": (text, words("quantize weights")),
        "not in title": (text, words("a study")),
    }
    scores = soft_match(embedder, ["quantize", "weights"], documents)
    assert scores["in title"] > scores["not in title"]


def test_nothing_to_compare_scores_zero(embedder: WordLlamaEmbedder) -> None:
    documents = {"a": (words("graph networks"), words("graphs"))}
    assert soft_match(embedder, [], documents) == {"a": 0.0}
    assert soft_match(embedder, ["graph"], {}) == {}
    assert soft_match(embedder, ["graph"], {"b": (frozenset(), frozenset())}) == {"b": 0.0}
