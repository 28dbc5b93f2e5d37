"""Suite-wide hooks."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the search-quality figures measured by tests/unit/test_relevance.py."""
    from tests.unit.test_relevance import RESULTS

    for name in ("keyword", "natural"):
        if name in RESULTS:
            terminalreporter.write_line(
                f"search relevance ({name} set): nDCG@5 = {RESULTS[name]:.3f}"
                f" over {RESULTS[name + ' queries']:.0f} labeled queries"
            )
