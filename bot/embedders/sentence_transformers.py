"""Optional embedder: a local sentence-transformers model (``sentence-transformers:<path>``).

Only imported when configured; ``sentence-transformers`` is not a paperbot
dependency (it brings PyTorch). The model is loaded from the given local
directory; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import ConfigError
from bot.ports.embedder import Embedder, Vectors

BATCH = 64


class SentenceTransformerEmbedder:
    """:class:`~bot.ports.embedder.Embedder` over a loaded SentenceTransformer."""

    def __init__(self, model: Any, path: Path) -> None:
        self._model = model
        self.dimensions = int(model.get_sentence_embedding_dimension())
        self.name = f"sentence-transformers/{path.name}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length float32 rows, one per text."""
        if not texts:
            return np.zeros((0, self.dimensions), np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimensions)


class SentenceTransformersPlugin:
    """Loads a sentence-transformers model from a local directory."""

    name = "sentence-transformers"

    def load(self, argument: str) -> Embedder:
        """The embedder for the model directory ``argument``."""
        path = Path(argument).expanduser()
        if not argument or not path.is_dir():
            raise ConfigError(
                "PAPERBOT_EMBEDDER: use sentence-transformers:<directory of a downloaded model>"
            )
        try:
            from sentence_transformers import (  # type: ignore[import-not-found]
                SentenceTransformer,
            )
        except ImportError:
            raise ConfigError(
                "PAPERBOT_EMBEDDER=sentence-transformers needs the package:"
                " pip install sentence-transformers"
            ) from None
        model = SentenceTransformer(str(path), local_files_only=True)
        return SentenceTransformerEmbedder(model, path)


plugin = SentenceTransformersPlugin()
