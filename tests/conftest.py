"""Suite-wide hooks."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the search-quality figure measured by tests/unit/test_relevance.py."""
    from tests.unit.test_relevance import RESULTS

    if "nDCG@5" in RESULTS:
        terminalreporter.write_line(
            f"search relevance: nDCG@5 = {RESULTS['nDCG@5']:.3f}"
            f" over {RESULTS['queries']:.0f} labeled queries"
        )
