"""`paperbot demo` as a newcomer runs it: a subprocess fed through stdin."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import clean_environment

NEWCOMER_SESSION = [
    "/help",
    "/today",
    "/search pre-training -vision",
    "/next",
    "/prev",
    "/2",
    "/paper 2305.14858",
    "/subscribe 09:00 Europe/Berlin",
    "/settings",
    "/settings top 3",
    "/settings",
]


def run_demo(lines: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the demo with piped input from a clean working directory."""
    environment = clean_environment()
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=environment,
        check=False,
    )


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> subprocess.CompletedProcess[str]:
    return run_demo(NEWCOMER_SESSION, tmp_path_factory.mktemp("demo"))


def test_demo_exits_cleanly_at_end_of_input(session) -> None:
    assert session.returncode == 0
    assert "Traceback" not in session.stdout + session.stderr
    assert session.stderr == ""


def test_demo_answers_the_newcomer_commands(session) -> None:
    out = session.stdout
    assert out.startswith("paperbot console — type /help")
    assert "/search <query>" in out
    assert "== Sample list of Fri 14 Mar 2025 ==" in out
    assert out.count("== Results for “pre-training -vision” ==") == 3
    assert "Results 6–10 of " in out
    assert "Actions: /prev ◀ Prev   /next Next ▶" in out
    assert "Pre-RMSNorm and Pre-CRMSNorm Transformers" in out
    assert "arXiv: https://arxiv.org/abs/2305.14858" in out
    assert "== Subscribed: daily digest at 09:00 Europe/Berlin (every day) ==" in out
    assert "timezone: Europe/Berlin" in out and "next post:" in out
    assert "== Updated top. Digest settings for this channel ==" in out
    assert "top: 3" in out


def test_demo_search_pages_exclude_the_excluded_word(session) -> None:
    pages = session.stdout.split("== Results for “pre-training -vision” ==")[1:]
    for page in pages:
        titles = [line for line in page.splitlines() if line[:1].isdigit() and ". " in line]
        assert titles and not any("vision" in title.lower() for title in titles)


def test_demo_bad_input_gets_one_clear_line(tmp_path: Path) -> None:
    lines = [
        "/next",
        "hello there",
        "/nosuchcommand",
        "/search",
        "/search " + "x" * 10_000,
        '/search "NEAR( AND * ^ : ("',
        "/search pre\x00training\x07",
        "/today 2025-02-30",
        "/subscribe 25:00",
        "/subscribe 09:00 Mars/Olympus",
        "/paper 9999.99999",
    ]
    result = run_demo(lines, tmp_path)
    assert result.returncode == 0
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("! ")]
    assert errors == [
        "! Nothing to page through with /next — run /search first.",
        "! Commands start with / — type /help.",
        "! Unknown command /nosuchcommand. Type /help.",
        '! Usage: /search <words> — e.g. /search "language model" -video',
        "! That is 10,000 characters; use at most 1000.",
        "! 2025-02-30 is not a real date.",
        "! '25:00' is not a time like 09:00 (24-hour HH:MM).",
        "! Unknown timezone 'Mars/Olympus': use Area/City, e.g. Europe/Berlin.",
        "! I don't know paper 9999.99999 yet.",
    ]
    # The NUL/bell query was cleaned and still searched.
    assert "== Results for “pre training” ==" in result.stdout


@pytest.mark.parametrize("lines", [[], ["/help"]], ids=["closed stdin", "one piped line"])
def test_input_that_ends_at_once_leaves_no_traceback(lines: list[str], tmp_path: Path) -> None:
    # The jobs are stopped before their first step; this used to log an
    # APScheduler CancelledError traceback nearly every run.
    for _ in range(3):
        result = run_demo(lines, tmp_path)
        assert result.returncode == 0 and result.stderr == ""


def _titles(block: str) -> list[str]:
    return [line for line in block.splitlines() if line[:1].isdigit() and ". " in line]


def test_numbers_and_paging_follow_the_last_list_shown(tmp_path: Path) -> None:
    lines = [
        "/search llm",
        "/today",
        "/2",
        "/next",
        "/search pre-training",
        "/next",
        "/1",
        "/99",
        "/quit-now",
        "/" + "a" * 50,
    ]
    result = run_demo(lines, tmp_path)
    out = result.stdout
    assert result.returncode == 0 and "Traceback" not in out + result.stderr
    today = out.split("== Sample list of Fri 14 Mar 2025 ==")[1]
    second = _titles(today)[1].split(". ", 1)[1]
    # /2 opened the second paper of the list on screen (today's), not of the search.
    assert f"\n\n{second}\n" in today
    pages = out.split("== Results for “pre-training” ==")
    first_result = _titles(pages[1])[0].split(". ", 1)[1]
    # /1 on page 2 opens result 1.
    assert f"\n\n{first_result}\n" in pages[2]
    errors = [line for line in out.splitlines() if line.startswith("! ")]
    assert errors == [
        "! The list on screen has only one page.",
        "! No result 99 here; results shown are /1…/10.",
        "! Unknown command /quit-now. Type /help.",
        "! Unknown command /" + "a" * 39 + "…. Type /help.",
    ]


def test_invalid_setting_stops_startup_with_one_line(tmp_path: Path) -> None:
    result = run_demo([], tmp_path, PAPERBOT_DEFAULT_POST_TIME="9 o'clock")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "paperbot: configuration error: PAPERBOT_DEFAULT_POST_TIME: "
        '"9 o\'clock" is not a time like 09:00 (24-hour HH:MM)'
    ]


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_demo_lines() -> list[str]:
    """The commands of the README's "In the demo, type for example" block."""
    text = README.read_text(encoding="utf-8")
    block = text.split("In the demo, type for example:", 1)[1].split("```", 2)[1]
    return [line for line in block.splitlines() if line.startswith("/")]


def _readme_search_examples() -> list[str]:
    """Every `example` in the first column of the README's search syntax table."""
    text = README.read_text(encoding="utf-8")
    table = text.split("### Search syntax", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1] for line in table.splitlines()[2:]]
    return [example for row in rows for example in re.findall(r"`([^`]+)`", row)]


def test_the_readme_examples_work_in_the_demo(tmp_path: Path) -> None:
    lines = _readme_demo_lines()
    searches = _readme_search_examples()
    assert len(lines) >= 8 and len(searches) >= 8
    result = run_demo([*lines, *(f"/search {query}" for query in searches)], tmp_path)
    out = result.stdout
    assert result.returncode == 0 and result.stderr == ""
    assert [line for line in out.splitlines() if line.startswith("! ")] == []
    assert "== Sample list of Thu 13 Mar 2025 ==" in out
    assert out.count("== Preview: Trending papers") == 2
    for query in searches:
        assert f"== Results for “{query}” ==" in out, query
