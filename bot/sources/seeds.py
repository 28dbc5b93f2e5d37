"""The bundled sample corpus (offline, no Hugging Face needed).

``seeds/papers.jsonl`` holds the papers; ``seeds/lists.json`` the sample daily
lists: each saved Hugging Face page as one day's list, in the page's order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from bot.models import Paper, bare_arxiv_id
from bot.ports.storage import Storage

log = logging.getLogger("paperbot.sources.seeds")

# Package data of the top-level ``seeds`` package, so installed copies (the
# Docker image) find the corpus as well as a source checkout does.
DEFAULT_SEEDS = resources.files("seeds") / "papers.jsonl"
DEFAULT_LISTS = resources.files("seeds") / "lists.json"


@dataclass(frozen=True, slots=True)
class SampleList:
    """One bundled sample daily list: paper keys in the page's own (ranked) order."""

    day: date
    keys: tuple[str, ...]


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


def load_sample_lists(
    papers: Sequence[Paper], path: Traversable | Path = DEFAULT_LISTS
) -> list[SampleList]:
    """The sample daily lists, titles resolved to the keys of ``papers``.

    A title that is not among ``papers`` is left out of its list.
    """
    keys = {paper.title: paper.key for paper in papers}
    with path.open(encoding="utf-8") as handle:
        items = json.load(handle)
    return [
        SampleList(
            date.fromisoformat(item["day"]),
            tuple(keys[title] for title in item["titles"] if title in keys),
        )
        for item in items
    ]


async def store_seeds(storage: Storage) -> tuple[int, int]:
    """Load the bundled papers and sample lists into ``storage``: (papers, lists) stored."""
    papers = load_seed_papers()
    count = await storage.upsert_papers(papers)
    lists = load_sample_lists(papers)
    for sample in lists:
        await storage.save_sample_list(sample.day, sample.keys)
    return count, len(lists)
