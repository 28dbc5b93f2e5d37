"""Choosing the digests' topic-match threshold (``match topic``) on the labeled sets.

    python bench/topic_threshold.py [--embedder wordllama]

A subscription's include keyword is a short topic ("continual learning",
"speech"). The keyword set (tests/relevance/judgments.json) holds such topics
with the papers a reader expects for each: its plain-word queries (no
``author:``, quotes, ``-`` or ``sort:``) serve as topics, their relevant papers
as what should pass, every other seed paper as what should not. For each
threshold the script counts, over all topics, the papers passing by keyword
match or by cosine similarity at or above it, and prints precision, recall and
F1 of that union. It picks the threshold with the best F1 on one half of the
topics (odd, even) and reports F1 on the other half, so the figure is not only
a fit to the data it was chosen on. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.relevance import load_set  # noqa: E402
from bot.digest import _mentions  # noqa: E402
from bot.plugins import load_embedder  # noqa: E402
from bot.semantic import paper_text  # noqa: E402
from bot.sources.seeds import load_seed_papers  # noqa: E402

THRESHOLDS = [round(0.15 + 0.025 * step, 3) for step in range(19)]


def counts(
    topics: list[tuple[str, set[str]]],
    similar: dict[str, dict[str, float]],
    literal: dict[str, set[str]],
    threshold: float,
) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) over ``topics`` at ``threshold``."""
    tp = fp = fn = 0
    for topic, relevant in topics:
        passing = literal[topic] | {k for k, s in similar[topic].items() if s >= threshold}
        tp += len(passing & relevant)
        fp += len(passing - relevant)
        fn += len(relevant - passing)
    return tp, fp, fn


def f1(tp: int, fp: int, fn: int) -> float:
    """The F1 score of those counts."""
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="wordllama")
    args = parser.parse_args()
    papers = load_seed_papers()
    journey = next(paper.key for paper in papers if paper.arxiv_id is None)
    embedder = load_embedder(args.embedder)
    assert embedder is not None, "an embedder is needed"
    vectors = embedder.embed([paper_text(paper) for paper in papers])
    topics = [
        (text, set(gains))
        for text, gains in load_set("judgments", journey)
        if not any(mark in text for mark in (":", '"', "-"))
    ]
    centres = embedder.embed([text for text, _ in topics])
    scores = vectors @ centres.T
    similar = {
        text: {paper.key: float(scores[row, col]) for row, paper in enumerate(papers)}
        for col, (text, _) in enumerate(topics)
    }
    literal = {text: {p.key for p in papers if _mentions(p, [text])} for text, _ in topics}
    table = {}
    for threshold in THRESHOLDS:
        tp, fp, fn = counts(topics, similar, literal, threshold)
        table[threshold] = {
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3),
            "f1": round(f1(tp, fp, fn), 3),
        }
    halves = {}
    for name, start in (("odd", 0), ("even", 1)):
        fit, held = topics[start::2], topics[1 - start :: 2]
        best = max(THRESHOLDS, key=lambda t: f1(*counts(fit, similar, literal, t)))
        halves[f"chosen_on_{name}"] = {
            "threshold": best,
            "f1_on_other_half": round(f1(*counts(held, similar, literal, best)), 3),
        }
    keyword_only = counts(topics, similar, literal, 2.0)
    print(
        json.dumps(
            {
                "embedder": embedder.name,
                "topics": len(topics),
                "keyword_only": {
                    "recall": round(keyword_only[0] / (keyword_only[0] + keyword_only[2]), 3),
                    "f1": round(f1(*keyword_only), 3),
                },
                "by_threshold": table,
                "split_halves": halves,
            }
        )
    )


if __name__ == "__main__":
    main()
