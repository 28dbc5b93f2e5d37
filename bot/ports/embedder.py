"""The embedding port: text in, unit-length vectors out (for hybrid search and /similar).

An embedder is a plugin (entry point group ``paperbot.embedders``), chosen by
``PAPERBOT_EMBEDDER`` as ``name`` or ``name:argument`` (``sentence-transformers:
/models/x``). The core only ever sees this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


def unit_rows(vectors: Vectors) -> Vectors:
    """``vectors`` with each row scaled to length 1; an all-zero row (a text
    without known tokens) stays zero rather than dividing by zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: Vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit


class Embedder(Protocol):
    """A loaded text-embedding model."""

    # Vector length; every row :meth:`embed` returns has this many values.
    dimensions: int
    # Names the model, and so the vectors stored with it ("wordllama/l2_supercat_256"):
    # vectors of another model are never compared with these.
    name: str

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised float32 row per text, shape ``(len(texts), dimensions)``.

        Called with whole batches (hundreds of texts) from a worker thread; an
        empty sequence gives shape ``(0, dimensions)``.
        """


@runtime_checkable
class WordEmbedder(Embedder, Protocol):
    """An embedder whose text vector is built from its words' (a static model).

    Single words then embed cheaply enough to compare a query's words with
    every word of a few dozen abstracts during a search (see
    :mod:`bot.soft_match`); a contextual model such as MiniLM is not one.
    """

    def embed_words(self, words: Sequence[str]) -> Vectors:
        """One L2-normalised float32 row per word (zero for a word without known tokens)."""


class EmbedderPlugin(Protocol):
    """How to build an embedder: ``load(argument)`` with the text after ``name:``."""

    name: str

    def load(self, argument: str) -> Embedder:
        """The embedder; raises ``ConfigError`` with a clear message when it cannot load."""
