"""The ``paperbot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bot import status, transfer
from bot.arxiv_schedule import arxiv_source
from bot.cards import paper_card
from bot.config import ConfigError, Settings, mask_url_passwords
from bot.doctor import run_checks
from bot.errors import UserError
from bot.hybrid import HybridSearch
from bot.ingest import ArxivIngestResult, ingest_arxiv, ingest_days, recent_days
from bot.logs import RedactingFilter, setup_logging
from bot.plugins import Config, load_config, open_semantic, open_storage
from bot.ports.plugins import CopyFailed
from bot.ports.storage import DatabaseUnusable, Storage, WriteFailed
from bot.query import parse_query
from bot.sources.arxiv_taxonomy import ARXIV_PREFIX, InvalidSourceSpec, parse_arxiv_source
from bot.sources.http import SourceError
from bot.sources.huggingface import HuggingFaceSource
from bot.sources.seeds import store_seeds

EXIT_USAGE = 2
# sysexits.h EX_CONFIG: nothing to run as configured (no chat token, no terminal).
EXIT_NO_CHAT = 78
log = logging.getLogger("paperbot.cli")
# Commands whose output is the point: only warnings and errors are logged.
QUIET_COMMANDS = {"demo", "search", "embed", "ingest", "export", "import", "status", "doctor", "db"}


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
    ingest.add_argument("--source", choices=("hf", "arxiv", "seeds"), default="hf")
    ingest.add_argument(
        "--categories",
        metavar="CODES",
        help="with --source arxiv: category codes, e.g. cs.CL,cs.LG (the latest announcement)",
    )
    search = sub.add_parser(
        "search",
        help="search the database from the shell",
        description="Search syntax as in chat, unquoted: paperbot search pre-training -video",
    )
    search.add_argument("query", nargs="+", help='words, "phrase", -word, author:Name, since:DATE')
    search.add_argument("--json", action="store_true", help="print JSON instead of text")
    search.add_argument("--limit", type=int, default=10)
    sub.add_parser(
        "embed",
        help="give every stored paper a vector for semantic search (resumable)",
        description="Embeds papers without a vector of PAPERBOT_EMBEDDER's model, in batches;"
        " an interrupted run continues where it stopped.",
    )
    sub.add_parser("export", help="print every subscription as JSON (paperbot export > subs.json)")
    load = sub.add_parser("import", help="create or update subscriptions from an export file")
    load.add_argument("file", help="a file written by paperbot export, or - for stdin")
    state = sub.add_parser("status", help="list subscriptions, next runs and last deliveries")
    state.add_argument("--json", action="store_true", help="print JSON instead of a table")
    state.add_argument(
        "--roles", action="store_true", help="only which process holds each role, and until when"
    )
    sub.add_parser("doctor", help="check configuration, database, Hugging Face and chat tokens")
    database = sub.add_parser("db", help="database operations").add_subparsers(
        dest="db_command", required=True, metavar="DB_COMMAND"
    )
    copy = database.add_parser(
        "copy",
        help="copy the configured (SQLite) database into PostgreSQL, resumable",
        description="Copies papers, subscriptions, sent history, the outbox and search sessions."
        " Stop the bot first. Running it again changes nothing; an interrupted copy resumes.",
    )
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://user:pass@host/db")
    copy.add_argument(
        "--from-start",
        action="store_true",
        help="forget an earlier copy's progress, copy all again",
    )
    return parser


async def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    if args.source == "arxiv":
        return await _ingest_arxiv(settings, args)
    if args.categories is not None:
        print("paperbot: --categories goes with --source arxiv", file=sys.stderr)
        return EXIT_USAGE
    async with _database(settings) as storage:
        if args.source == "seeds":
            count, lists = await store_seeds(storage)
            print(
                f"loaded {count} seed papers and {lists} sample daily lists"
                f" into {settings.storage_label}"
            )
            return 0
        if args.days is not None and not 1 <= args.days <= 365:
            print("paperbot: --days takes a number from 1 to 365", file=sys.stderr)
            return EXIT_USAGE
        today = datetime.now(UTC).date()
        days = [args.date] if args.date else recent_days(today, args.days or settings.ingest_days)
        async with HuggingFaceSource(settings.hf_endpoint) as source:
            # Log lines go above the bar instead of into it.
            with tqdm(total=len(days), unit="day", file=sys.stderr) as bar, logging_redirect_tqdm():

                def progress(day: date, count: int) -> None:
                    bar.set_postfix_str(f"{day}: {count} papers")
                    bar.update()

                result = await ingest_days(storage, source, days, progress)
        print(f"stored {result.papers} papers from {len(result.days_ok)} day(s)")
        # One line per distinct reason: an unreachable host fails every day the same way.
        failed: dict[str, list[str]] = {}
        for day, reason in result.days_failed:
            failed.setdefault(reason, []).append(day.isoformat())
        for reason, failed_days in failed.items():
            print(f"failed {', '.join(failed_days)}: {reason}", file=sys.stderr)
        return 0 if result.ok else 1


async def _ingest_arxiv(settings: Settings, args: argparse.Namespace) -> int:
    """``paperbot ingest --source arxiv --categories ...``: the latest announcement."""
    if args.days is not None or args.date is not None:
        print(
            "paperbot: arXiv ingests the latest announcement; --days and --date are for hf",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        # Validated before anything is opened or fetched; aliases become canonical.
        categories = parse_arxiv_source(ARXIV_PREFIX + (args.categories or ""))
    except InvalidSourceSpec as exc:
        print(f"paperbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    source = arxiv_source(settings)
    async with _database(settings) as storage, aclosing(source):
        try:
            result = await ingest_arxiv(storage, source, categories)
        except SourceError as exc:
            print(f"paperbot: arXiv ingest failed: {exc}", file=sys.stderr)
            return 1
    print(_arxiv_summary(result))
    return 0


def _count(number: int, singular: str, plural: str | None = None) -> str:
    """``1 request``, ``3 requests``."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _arxiv_summary(result: ArxivIngestResult) -> str:
    """One line saying what an arXiv ingest found, per category, and what it cost."""
    codes = ", ".join(c.category for c in result.categories)
    requests = _count(result.requests, "request")
    if result.is_empty:
        return f"arXiv: no announcement for {codes} (weekend or holiday); {requests}, none stored"
    per_category = "; ".join(
        f"{c.category} {c.new} new, {c.cross} cross-listed, {c.replaced} replaced"
        f" ({_count(c.requests, 'feed request')})"
        for c in result.categories
    )
    day = result.announced_on.isoformat() if result.announced_on else "date unknown"
    line = (
        f"arXiv announcement of {day}: {per_category};"
        f" stored {_count(result.papers, 'paper')}; {requests}"
        f" ({result.metadata_requests} for metadata)"
    )
    if result.skipped:
        line += f"; {_count(result.skipped, 'malformed feed entry', 'malformed feed entries')}"
        line += " skipped"
    if result.incomplete:
        line += f"; {_count(result.incomplete, 'listing')} kept the feed's data"
        line += " (metadata unavailable)"
    return line


async def _search(settings: Settings, args: argparse.Namespace) -> int:
    text = " ".join(args.query)
    try:
        query = parse_query(text)
    except UserError as exc:
        print(f"paperbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    async with _database(settings) as storage:
        semantic = await open_semantic(storage, settings.embedder, settings=settings)
        searcher = HybridSearch(storage, semantic)
        page = await searcher.search(query, 0, max(1, min(args.limit, 100)))
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


async def _embed(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    async with _database(settings) as storage:
        semantic = await open_semantic(storage, settings.embedder, settings=settings)
        if semantic is None:
            print("PAPERBOT_EMBEDDER=none: semantic search is off, nothing to embed.")
            return 0
        missing = await storage.count_papers() - await storage.count_vectors(semantic.model)
        with (
            tqdm(total=missing, unit="paper", file=sys.stderr) as bar,
            logging_redirect_tqdm(),
        ):
            done = await semantic.embed_missing(bar.update)
        await semantic.save()
    print(f"embedded {done} papers with {semantic.model}; {len(semantic.index)} have vectors")
    return 0


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as storage:
        subs = await storage.list_subscriptions()
        alerts: dict[str, list[str]] = {}
        for alert in await storage.list_alerts():
            alerts.setdefault(alert.channel, []).append(alert.query)
    sys.stdout.write(transfer.export_document(subs, alerts))
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
        alerts = transfer.document_alerts(text)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"paperbot: cannot read {name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except transfer.InvalidFile as exc:
        for problem in exc.problems:
            print(problem.located(name), file=sys.stderr)
        print(f"paperbot: {name} was not imported (nothing changed)", file=sys.stderr)
        return 1
    async with _database(settings) as storage:
        done = await transfer.import_subscriptions(storage, subs, datetime.now(UTC), alerts)
    print(
        f"imported {len(subs)} subscription(s) from {name}: {done.created} new, "
        f"{done.updated} updated, {done.unchanged} unchanged"
    )
    return 0


async def _status(settings: Settings, args: argparse.Namespace) -> int:
    async with _database(settings) as storage:
        rows = await status.collect(storage)
        leases = await storage.list_leases()
    now = datetime.now(UTC)
    if args.roles:
        print(status.roles_json(leases, now) if args.json else status.roles_table(leases, now))
    elif args.json:
        print(status.as_json(rows))
    else:
        print(status.as_table(rows))
        if leases:  # several processes (or one that ran): who does what
            print(f"\n{status.roles_table(leases, now)}")
    return 0


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    from bot.db_copy import copy_database

    try:
        print(await copy_database(settings, args.to, from_start=args.from_start))
    except CopyFailed as exc:
        print(f"paperbot: db copy: {mask_url_passwords(str(exc))}", file=sys.stderr)
        return 1
    return 0


async def _doctor(config: Config, args: argparse.Namespace) -> int:
    checks = await run_checks(config)
    for check in checks:
        print(check.line)
    return 0 if all(check.ok for check in checks) else 1


async def _serve(config: Config, args: argparse.Namespace) -> int:
    # Imported here: the chat libraries take a third of a second to load,
    # which the other commands (and their 2 s error budget) need not pay.
    from bot.app import NoChatToken, StartupError, run_bot, run_demo

    try:
        return await (run_demo(config) if args.command == "demo" else run_bot(config))
    except NoChatToken as exc:
        print(f"paperbot: {exc}", file=sys.stderr)
        return EXIT_NO_CHAT
    except StartupError as exc:
        redacted = RedactingFilter(config.secrets()).redact(str(exc))
        print(f"paperbot: cannot start {redacted}", file=sys.stderr)
        return 1


COMMANDS: dict[str, Callable[[Config, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "demo": _serve,
    "run": _serve,
    "ingest": lambda config, args: _ingest(config.core, args),
    "search": lambda config, args: _search(config.core, args),
    "embed": lambda config, args: _embed(config.core, args),
    "export": lambda config, args: _export(config.core, args),
    "import": lambda config, args: _import(config.core, args),
    "status": lambda config, args: _status(config.core, args),
    "doctor": _doctor,
    "db": lambda config, args: _db(config.core, args),
}


_SEARCH_FLAGS = {"--json", "-h", "--help"}


def search_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with a search's own options first and every other word after ``--``.

    The search syntax excludes with a leading "-" (``-video``), which argparse
    would take for an unknown option; after ``--`` it is a query word.
    """
    if not argv or argv[0] != "search" or "--" in argv:
        return list(argv)
    options: list[str] = []
    words: list[str] = []
    rest = iter(argv[1:])
    for word in rest:
        if word in _SEARCH_FLAGS or word.startswith("--limit="):
            options.append(word)
        elif word == "--limit":
            options += [word, next(rest, "")]
        else:
            words.append(word)
    return ["search", *options, "--", *words]


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away (``| head -1``): stop quietly, as shell tools do."""
    # Whatever is still buffered cannot be written; point stdout at /dev/null
    # so the interpreter's final flush does not print a traceback either.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``paperbot`` console script."""
    args = build_parser().parse_args(search_argv(sys.argv[1:] if argv is None else argv))
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
    except ConfigError as exc:  # found only when used: an embedder that cannot load
        print(f"paperbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DatabaseUnusable, WriteFailed) as exc:
        # The traceback helps a developer, not the operator: DEBUG only.
        log.debug("database failure", exc_info=exc)
        print(f"paperbot: cannot use the database {settings.storage_label}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _quiet_broken_pipe()


if __name__ == "__main__":
    sys.exit(main())
