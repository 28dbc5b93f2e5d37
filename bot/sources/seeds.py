"""The bundled sample corpus in ``seeds/papers.jsonl`` (offline, no Hugging Face needed)."""

from __future__ import annotations

import json
import logging
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from bot.models import Paper, bare_arxiv_id

log = logging.getLogger("paperbot.sources.seeds")

# Package data of the top-level ``seeds`` package, so installed copies (the
# Docker image) find the corpus as well as a source checkout does.
DEFAULT_SEEDS = resources.files("seeds") / "papers.jsonl"


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def load_seed_papers(path: Traversable | Path = DEFAULT_SEEDS) -> list[Paper]:
    """Every valid paper in the seeds file; malformed lines are skipped with a warning."""
    papers = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                raw = json.loads(line)
                title = str(raw["title"]).strip()
                if not title:
                    raise ValueError("empty title")
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s:%d skipped: %s", path.name, number, exc)
                continue
            arxiv_id = raw.get("arxiv_id")
            papers.append(
                Paper(
                    title=title,
                    arxiv_id=bare_arxiv_id(arxiv_id) if isinstance(arxiv_id, str) else None,
                    summary=str(raw.get("summary") or ""),
                    authors=tuple(str(a) for a in raw.get("authors") or ()),
                    published_at=_date(raw.get("published_at")),
                )
            )
    return papers
