"""The default embedder: WordLlama's 256-dimension static token embeddings.

Its weights ship inside the ``wordllama`` wheel, so it loads from disk in a
fraction of a second with no download (offline hosts included) and embeds
thousands of abstracts a second on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import ConfigError
from bot.ports.embedder import Embedder, Vectors

DIMENSIONS = 256
CONFIG = "l2_supercat"


class WordLlamaEmbedder:
    """:class:`~bot.ports.embedder.Embedder` over a loaded WordLlama model."""

    dimensions = DIMENSIONS
    name = f"wordllama/{CONFIG}_{DIMENSIONS}"

    def __init__(self, model: Any) -> None:
        self._model = model

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length float32 rows, one per text."""
        if not texts:
            return np.zeros((0, self.dimensions), np.float32)
        vectors = np.asarray(self._model.embed(list(texts)), dtype=np.float32)
        vectors = vectors.reshape(len(texts), self.dimensions)
        # Normalised here: a text without known tokens stays a zero vector
        # (WordLlama's own normalisation divides it by zero).
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: Vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        return unit


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
