"""The default embedder: WordLlama's 256-dimension static token embeddings.

Its weights ship inside the ``wordllama`` wheel, so it loads from disk in a
fraction of a second with no download (offline hosts included) and embeds
thousands of abstracts a second on a CPU.

A text's vector is the mean of its tokens' embeddings, normalised (what
WordLlama computes; the vectors here match its own to a cosine of 0.996 or
more, the difference being the line breaks, which are not words). Tokenizing
about 500 tokens an abstract and padding every text of a batch to the
longest limited WordLlama's own speed, so: tokens are looked up per word (the
tokenizer joins no token across a space: its normaliser only turns spaces
into word-start marks, so a text's tokens are its words' tokens in order, and
a word seen before costs a dictionary lookup), and a batch's sums are one
matrix product of token counts with the embeddings, without padding.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.config import ConfigError
from bot.ports.embedder import Embedder, Vectors, unit_rows

DIMENSIONS = 256
CONFIG = "l2_supercat"
# Words whose token ids are remembered; past this the memory starts over
# (about 100 bytes a word: a few tens of MB at most).
WORD_CACHE = 300_000
# Word vectors remembered for searches (bot.soft_match compares the words of
# a few dozen abstracts, mostly met before): 32 MB when full, after which the
# memory starts over. float32, as float16 took longer to convert than to compute.
WORD_VECTOR_CACHE = 32_768
# Texts summed at a time (the count matrix is texts x distinct tokens; of 32,
# 64, 128 and 256, 256 took the least CPU on 2,000 abstracts).
SUM_BATCH = 256


class WordLlamaEmbedder:
    """:class:`~bot.ports.embedder.Embedder` over a loaded WordLlama model."""

    dimensions = DIMENSIONS
    name = f"wordllama/{CONFIG}_{DIMENSIONS}"

    def __init__(self, model: Any, word_vectors: int = WORD_VECTOR_CACHE) -> None:
        self._model = model
        self._table = np.asarray(model.embedding, np.float32)
        # A copy without WordLlama's padding (its ids would count as tokens here).
        self._tokenizer = type(model.tokenizer).from_str(model.tokenizer.to_str())
        self._tokenizer.no_padding()
        self._word_ids: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._word_rows: dict[str, int] = {}
        self._word_vectors = np.zeros((word_vectors, DIMENSIONS), np.float32)
        self._vectors_lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length float32 rows, one per text."""
        vectors = np.zeros((len(texts), self.dimensions), np.float32)
        for start in range(0, len(texts), SUM_BATCH):
            batch = [text.split() for text in texts[start : start + SUM_BATCH]]
            vectors[start : start + len(batch)] = self._sums(batch)
        # Normalised here: a text without known tokens stays a zero vector
        # (WordLlama's own normalisation divides it by zero).
        return unit_rows(vectors)

    def embed_words(self, words: Sequence[str]) -> Vectors:
        """Unit-length float32 rows, one per word: the mean of its tokens' embeddings."""
        with self._vectors_lock:
            rows = self._word_rows
            found = list(map(rows.get, words))
            if None in found:
                new = list(
                    dict.fromkeys(w for w, row in zip(words, found, strict=True) if row is None)
                )
                capacity = len(self._word_vectors)
                if len(rows) + len(new) > capacity:
                    rows.clear()
                    new = list(dict.fromkeys(words))
                    if len(new) > capacity:
                        return self._compute_words(words)
                self._word_vectors[len(rows) : len(rows) + len(new)] = self._compute_words(new)
                rows.update(zip(new, range(len(rows), len(rows) + len(new)), strict=True))
                found = list(map(rows.__getitem__, words))
            # An index array first: numpy converts a list of ints far slower.
            at = np.fromiter(found, np.intp, len(found))
            vectors: Vectors = self._word_vectors[at]
        return vectors

    def _compute_words(self, words: Sequence[str]) -> Vectors:
        counts, flat = self._tokens(words)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        vectors = np.zeros((len(words), self.dimensions), np.float32)
        # The j-th token of every word that has one, a pass per position: most
        # words are one to three tokens (numpy's reduceat is far slower here).
        for position in range(int(counts.max(initial=0))):
            longer = counts > position
            vectors[longer] += self._table[flat[starts[longer] + position]]
        return unit_rows(vectors)

    def _sums(self, texts: list[list[str]]) -> Vectors:
        """Each text's sum of token embeddings (texts given as their words).

        As a product of token counts (texts x distinct tokens of the batch)
        with those tokens' embeddings: BLAS does it several times faster than
        gathering a row per token and adding them up.
        """
        word_tokens, flat = self._tokens([word for words in texts for word in words])
        tokens_before = np.concatenate(([0], np.cumsum(word_tokens)))
        word_ends = np.cumsum([len(words) for words in texts])
        text_tokens = np.diff(tokens_before[np.concatenate(([0], word_ends))])
        distinct, column = np.unique(flat, return_inverse=True)
        text = np.repeat(np.arange(len(texts)), text_tokens)
        counts = np.bincount(text * len(distinct) + column, minlength=len(texts) * len(distinct))
        matrix = counts.reshape(len(texts), len(distinct)).astype(np.float32)
        sums: Vectors = matrix @ self._table[distinct]
        return sums

    def _tokens(self, words: Sequence[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """How many tokens each word has, and all their ids in order (rows of the table)."""
        per_word = self._token_ids(list(words))
        counts = np.fromiter(map(len, per_word), np.int64, len(per_word))
        flat = np.fromiter(itertools.chain.from_iterable(per_word), np.int64, counts.sum())
        return counts, np.clip(flat, 0, len(self._table) - 1)

    def _token_ids(self, words: list[str]) -> list[list[int]]:
        """Each word's token ids, tokenizing only words not seen before."""
        with self._lock:
            known = self._word_ids
            new = list(set(words).difference(known))
            if new:
                if len(known) + len(new) > WORD_CACHE:
                    known.clear()
                    new = list(set(words))
                encoded = self._tokenizer.encode_batch(new, add_special_tokens=False)
                known.update(zip(new, (item.ids for item in encoded), strict=True))
            return [known[word] for word in words]


class WordLlamaPlugin:
    """Loads :class:`WordLlamaEmbedder` from the weights inside the installed wheel."""

    name = "wordllama"

    def load(self, argument: str) -> Embedder:
        """The embedder; ``argument`` must be empty (the bundled model is the only one)."""
        if argument:
            raise ConfigError("PAPERBOT_EMBEDDER: wordllama takes no argument; use 'wordllama'")
        try:
            import wordllama  # type: ignore[import-untyped]
            from wordllama import WordLlama
        except ImportError as exc:
            raise ConfigError(
                f"PAPERBOT_EMBEDDER=wordllama: cannot import wordllama: {exc}"
            ) from exc
        try:
            model = WordLlama.load(
                config=CONFIG,
                dim=DIMENSIONS,
                cache_dir=Path(wordllama.__file__).parent,
                disable_download=True,
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"PAPERBOT_EMBEDDER=wordllama: cannot load its weights: {exc}"
            ) from exc
        return WordLlamaEmbedder(model)


plugin = WordLlamaPlugin()
