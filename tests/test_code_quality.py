"""Style and typing gates, run with the suite so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The core, the adapters and the backends under mypy --strict; the tests under the
# relaxed profile of their [[tool.mypy.overrides]] in pyproject.toml. One run checks both.
TYPED = ["bot", "storage", "adapters", "tests"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_and_tests_are_mypy_clean() -> None:
    result = _run("mypy", *TYPED)
    assert result.returncode == 0, result.stdout + result.stderr
