"""Word-by-word matching by meaning (bot/soft_match.py) and the word vectors behind it."""

from __future__ import annotations

import numpy as np
import pytest

from bot.embedders.wordllama import WordLlamaEmbedder
from bot.plugins import load_embedder
from bot.ports.embedder import WordEmbedder
from bot.soft_match import HASHED_BYTES, _Words, rarity_weights, soft_match


@pytest.fixture(scope="module")
def embedder() -> WordLlamaEmbedder:
    loaded = load_embedder("wordllama")
    assert isinstance(loaded, WordLlamaEmbedder)
    return loaded


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
    # Documents x (thermal, images, sonar): whether each holds the word.
    hits = np.array([[True, True, False], [False, True, False], [False, True, False]])
    thermal, images, absent = rarity_weights(hits)
    assert absent > thermal > images > 0


def test_texts_are_split_into_plain_words_told_apart_by_hash() -> None:
    long_word = "x" * HASHED_BYTES
    found = _Words(["Über-fast “LLMs”: LLMs, llms\u00a0über", "", f"{long_word}-free {long_word}"])
    spelled = found.texts(np.arange(len(found.hashes)))
    assert spelled == ["über", "fast", "llms", "llms", "llms", "über", long_word, "free", long_word]
    assert found.text_of.tolist() == [0, 0, 0, 0, 0, 0, 2, 2, 2]
    hashes = found.hashes.tolist()
    by_word = dict(zip(spelled, hashes, strict=True))
    assert len(set(by_word.values())) == len(by_word) == 5
    assert [by_word[word] for word in spelled] == hashes
    # Words that differ only past the bytes hashed differ in length, so in hash.
    a, b = _Words(["a" * 40 + " " + "a" * 41]).hashes
    assert a != b


def test_a_synonym_counts_and_rare_words_count_most(embedder: WordLlamaEmbedder) -> None:
    documents = {
        "infrared": ("Segmenting infrared images at night.", "Infrared images"),
        "colour": ("Segmenting colour images by day.", "Colour images"),
        "empty": ("", ""),
        "little words only": ("The, of and a.", "The"),
    }
    scores = soft_match(embedder, ["thermal", "camera", "images"], documents)
    assert scores["infrared"] > scores["colour"] > scores["empty"] == 0.0
    assert scores["little words only"] == 0.0


def test_little_words_of_the_query_are_left_out(embedder: WordLlamaEmbedder) -> None:
    documents = {
        "thermal": ("thermal images of the road", "Thermal images"),
        "colour": ("colour images of the road", "Colour images"),
    }
    plain = soft_match(embedder, ["thermal", "images"], documents)
    assert soft_match(embedder, ["the", "thermal", "of", "images"], documents) == plain


def test_the_title_adds_to_the_whole_text(embedder: WordLlamaEmbedder) -> None:
    text = "we quantize weights to four bits"
    documents = {"in title": (text, "Quantize weights"), "not in title": (text, "A study")}
    scores = soft_match(embedder, ["quantize", "weights"], documents)
    assert scores["in title"] > scores["not in title"]


def test_nothing_to_compare_scores_zero(embedder: WordLlamaEmbedder) -> None:
    documents = {"a": ("graph networks", "graphs")}
    assert soft_match(embedder, [], documents) == {"a": 0.0}
    assert soft_match(embedder, ["the", "of"], documents) == {"a": 0.0}
    assert soft_match(embedder, ["graph"], {}) == {}
    assert soft_match(embedder, ["graph"], {"b": ("", "")}) == {"b": 0.0}
