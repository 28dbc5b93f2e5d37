"""Rebuild seeds/papers.jsonl and seeds/lists.json from the saved Hugging Face pages in seeds/raw/.

Run: python seeds/build.py. Each page lists a title line followed by its
abstract; seed_papers.tsv adds the arXiv id, date and authors where known.
Each page is also one sample daily list, in the page's own order (Hugging
Face's ranking; the pages show no upvote counts), written to lists.json.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"
MAX_TITLE_CHARS = 300
# The pages render footnote markers as a digit glued to the final period.
FOOTNOTE_RE = re.compile(r"(?<=\.)\d$")
# The day each page stands for. Page 000 is headed "Mar 14" and its newest
# paper is from February 2025, so it is 14 March 2025; page 004 shows no date
# and is taken as the day before, so the demo has two consecutive sample days.
PAGE_DAYS = {"000_ec94ac00db083ee9.txt": "2025-03-14", "004_d829a05bb78067d7.txt": "2025-03-13"}


def page_pairs(path: Path) -> list[tuple[str, str]]:
    """(title, abstract) pairs: a short line directly followed by a long one."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    pairs = []
    index = 0
    while index < len(lines) - 1:
        title, body = lines[index], lines[index + 1]
        if len(title) <= MAX_TITLE_CHARS < len(body):
            pairs.append((title, FOOTNOTE_RE.sub("", body)))
            index += 2
        else:
            index += 1
    return pairs


def main() -> None:
    """Write seeds/papers.jsonl (one paper per line, deduplicated by title) and lists.json."""
    with (RAW / "seed_papers.tsv").open(encoding="utf-8") as handle:
        meta = {row["title"]: row for row in csv.DictReader(handle, delimiter="\t")}
    papers: dict[str, dict[str, object]] = {}
    lists: list[dict[str, object]] = []
    for page in sorted(RAW.glob("*.txt")):
        pairs = page_pairs(page)
        lists.append(
            {"day": PAGE_DAYS[page.name], "page": page.name, "titles": [t for t, _ in pairs]}
        )
        for title, abstract in pairs:
            row = meta.get(title, {})
            authors = [a.strip() for a in (row.get("authors") or "").split(";") if a.strip()]
            papers.setdefault(
                title,
                {
                    "title": title,
                    "arxiv_id": row.get("arxiv_id") or None,
                    "published_at": row.get("published") or None,
                    "authors": authors,
                    "summary": abstract,
                },
            )
    out = HERE / "papers.jsonl"
    with out.open("w", encoding="utf-8") as handle:
        for paper in papers.values():
            handle.write(json.dumps(paper, ensure_ascii=False) + "\n")
    print(f"wrote {len(papers)} papers to {out}")
    lists.sort(key=lambda item: str(item["day"]))
    (HERE / "lists.json").write_text(
        json.dumps(lists, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"wrote {len(lists)} sample lists to {HERE / 'lists.json'}")


if __name__ == "__main__":
    main()
