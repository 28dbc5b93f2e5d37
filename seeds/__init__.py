"""The bundled sample corpus: ``papers.jsonl``, built by ``python seeds/build.py`` from ``raw/``."""
