"""The ``paperbot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot import status, transfer
from bot.app import StartupError, run_bot, run_demo
from bot.cards import paper_card
from bot.config import ConfigError, Settings
from bot.doctor import run_checks
from bot.errors import UserError
from bot.ingest import ingest_days, recent_days
from bot.logs import RedactingFilter, setup_logging
from bot.plugins import Config, load_config, open_storage
from bot.ports.storage import Storage
from bot.query import parse_query
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.seeds import load_seed_papers

EXIT_USAGE = 2
# Commands whose output is the point: only warnings and errors are logged.
QUIET_COMMANDS = {"demo", "search", "ingest", "export", "import", "status", "doctor"}


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Storage]:
    """The configured database, open for the duration of one command."""
    storage = await open_storage(settings.storage_url)
    try:
        yield storage
    finally:
        await storage.close()


def _date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2025-03-14") from None


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options."""
    parser = argparse.ArgumentParser(
        prog="paperbot", description="Research-paper updates for Discord, Telegram and the console."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("demo", help="try the bot offline: console chat over the bundled seeds")
    sub.add_parser("run", help="run every adapter whose token is set (console when none is)")
    ingest = sub.add_parser("ingest", help="fetch papers into the database")
    when = ingest.add_mutually_exclusive_group()
    when.add_argument("--days", type=int, help="today and the N-1 days before (default: 3)")
    when.add_argument("--date", type=_date_arg, help="one day, YYYY-MM-DD")
    ingest.add_argument("--source", choices=("hf", "seeds"), default="hf")
    search = sub.add_parser("search", help="search the database from the shell")
    search.add_argument("query", nargs="+")
    search.add_argument("--json", action="store_true", help="print JSON instead of text")
    search.add_argument("--limit", type=int, default=10)
    sub.add_parser("export", help="print every subscription as JSON (paperbot export > subs.json)")
    load = sub.add_parser("import", help="create or update subscriptions from an export file")
    load.add_argument("file", help="a file written by paperbot export, or - for stdin")
    state = sub.add_parser("status", help="list subscriptions, next runs and last deliveries")
    state.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub.add_parser("doctor", help="check configuration, database, Hugging Face and chat tokens")
    return parser


async def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    async with _database(settings) as storage:
        if args.source == "seeds":
            count = await storage.upsert_papers(load_seed_papers())
            print(f"loaded {count} seed papers into {settings.storage_url}")
            return 0
        if args.days is not None and not 1 <= args.days <= 365:
            print("paperbot: --days takes a number from 1 to 365", file=sys.stderr)
            return EXIT_USAGE
        today = datetime.now(UTC).date()
        days = [args.date] if args.date else recent_days(today, args.days or settings.ingest_days)
        async with HuggingFaceSource(settings.hf_endpoint) as source:
            with tqdm(total=len(days), unit="day", file=sys.stderr) as bar:

                def progress(day: date, count: int) -> None:
                    bar.set_postfix_str(f"{day}: {count} papers")
                    bar.update()

                result = await ingest_days(storage, source, days, progress)
        print(f"stored {result.papers} papers from {len(result.days_ok)} day(s)")
        for day, reason in result.days_failed:
            print(f"failed {day}: {reason}", file=sys.stderr)
        return 0 if result.ok else 1


async def _search(settings: Settings, args: argparse.Namespace) -> int:
    text = " ".join(args.query)
    try:
        query = parse_query(text)
    except UserError as exc:
        print(f"paperbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    async with _database(settings) as storage:
        page = await storage.search(query, 0, max(1, min(args.limit, 100)))
        if not page.papers and await storage.count_papers() == 0:
            print("The database is empty: run `paperbot ingest` first.", file=sys.stderr)
            return 1
    if args.json:
        rows: list[dict[str, Any]] = [
            {
                "key": p.key,
                "arxiv_id": p.arxiv_id,
                "title": p.title,
                "authors": list(p.authors),
                "published_at": p.published_at.isoformat() if p.published_at else None,
                "upvotes": p.upvotes,
                "url": p.hf_url,
            }
            for p in page.papers
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for rank, paper in enumerate(page.papers, 1):
            card = paper_card(paper, rank)
            print(f"{rank}. {card.title}\n   {card.authors} · {card.date} · {card.url or ''}")
        if not page.papers:
            print(f"No papers match {text!r}.")
    return 0


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as storage:
        subs = await storage.list_subscriptions()
    sys.stdout.write(transfer.export_document(subs))
    return 0


def _read_text(file: str) -> str:
    """A file's text, or stdin's for ``-``."""
    if file == "-":
        return sys.stdin.read()
    # utf-8-sig: files saved by some Windows editors start with a byte-order mark.
    return Path(file).read_text(encoding="utf-8-sig")


async def _import(settings: Settings, args: argparse.Namespace) -> int:
    name = "<stdin>" if args.file == "-" else args.file
    try:
        text = await asyncio.to_thread(_read_text, args.file)
        subs = transfer.parse_document(text)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"paperbot: cannot read {name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except transfer.InvalidFile as exc:
        for problem in exc.problems:
            print(problem.located(name), file=sys.stderr)
        print(f"paperbot: {name} was not imported (nothing changed)", file=sys.stderr)
        return 1
    async with _database(settings) as storage:
        done = await transfer.import_subscriptions(storage, subs, datetime.now(UTC))
    print(
        f"imported {len(subs)} subscription(s) from {name}: {done.created} new, "
        f"{done.updated} updated, {done.unchanged} unchanged"
    )
    return 0


async def _status(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as storage:
        rows = await status.collect(storage)
    print(status.as_json(rows) if args.json else status.as_table(rows))
    return 0


async def _doctor(config: Config, args: argparse.Namespace) -> int:
    checks = await run_checks(config)
    for check in checks:
        print(check.line)
    return 0 if all(check.ok for check in checks) else 1


COMMANDS: dict[str, Callable[[Config, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "demo": lambda config, args: run_demo(config),
    "run": lambda config, args: run_bot(config),
    "ingest": lambda config, args: _ingest(config.core, args),
    "search": lambda config, args: _search(config.core, args),
    "export": lambda config, args: _export(config.core, args),
    "import": lambda config, args: _import(config.core, args),
    "status": lambda config, args: _status(config.core, args),
    "doctor": _doctor,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``paperbot`` console script."""
    args = build_parser().parse_args(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        if args.command == "doctor":  # a finding like any other, in the doctor's format
            print(f"FAIL configuration: {exc}")
            return 1
        print(f"paperbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settings = config.core
    quiet = args.command in QUIET_COMMANDS and settings.log_level == "INFO"
    setup_logging("WARNING" if quiet else settings.log_level, config.secrets(), settings.log_format)
    try:
        return asyncio.run(COMMANDS[args.command](config, args))
    except StartupError as exc:
        redacted = RedactingFilter(config.secrets()).redact(str(exc))
        print(f"paperbot: cannot start {redacted}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
