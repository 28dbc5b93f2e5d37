"""The one list of chat commands: names, help, typed options and who may run them.

The router's table and admin checks, ``/help``, Telegram's command menu,
Discord's slash commands and the metrics labels are all derived from
:data:`CATALOGUE`, so a new command is added here and in the router only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.alerts import MAX_ALERT_CHARS
from bot.query import MAX_QUERY_CHARS
from bot.subscription_options import SETTING_KEYS

# The query shares the router's length limit with the " sort:relevance" an
# option may append.
QUERY_OPTION_CHARS = MAX_QUERY_CHARS - len(" sort:relevance")
# Room for MAX_CATEGORIES codes of up to 16 characters, commas and the prefix.
SOURCE_OPTION_CHARS = 400
# Buttons' own command (search result pages): handled and counted, never typed.
BUTTON_ONLY_COMMANDS = ("page",)


class Access(enum.Enum):
    """Who may run a command."""

    ANYONE = "anyone"
    #: Anyone may run it bare (view); with arguments (a change) only admins.
    VIEW_ANYONE_CHANGE_ADMIN = "view: anyone, change: admins"
    ADMINS = "admins"


@dataclass(frozen=True, slots=True)
class Choice:
    """One allowed value of an option, with the label a menu shows."""

    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Option:
    """One typed option of a command, in the order it is written into the argument text.

    ``prefix`` is written before the value (``sort:``). ``description`` may
    name ``{default_time}`` and ``{default_timezone}``, filled in by the
    adapter from the configured defaults. ``autocomplete`` names a value
    list an adapter can suggest from (``"timezone"``).
    """

    name: str
    description: str
    required: bool = False
    max_length: int | None = None
    choices: tuple[Choice, ...] = ()
    autocomplete: str | None = None
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command: ``summary`` for menus, ``usage`` and ``help`` for the ``/help`` line.

    ``admin_action`` completes the refusal "Only admins of this chat can ...".
    """

    name: str
    summary: str
    usage: str
    help: str
    access: Access = Access.ANYONE
    admin_action: str = ""
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()
    #: First words of the arguments that only view (``/alert list``), for
    #: ``VIEW_ANYONE_CHANGE_ADMIN``: anyone may run those too.
    view_args: tuple[str, ...] = ()

    def needs_admin(self, args: str) -> bool:
        """Whether running it with ``args`` takes an admin of the chat."""
        if self.access is Access.ADMINS:
            return True
        words = args.split()
        if not words or words[0].casefold() in self.view_args:
            return False
        return self.access is Access.VIEW_ANYONE_CHANGE_ADMIN

    def args_from(self, values: dict[str, str | None]) -> str:
        """The argument text for option ``values`` (by name; unset ones left out)."""
        parts = []
        for option in self.options:
            value = (values.get(option.name) or "").strip()
            if value:
                parts.append(option.prefix + value)
        return " ".join(parts)


# The one paper /paper and /similar are about.
PAPER_ID = Option("id", "arXiv id or URL, e.g. 2305.14858", required=True, max_length=200)

CATALOGUE: tuple[CommandSpec, ...] = (
    CommandSpec(
        "today",
        summary="Top papers of the latest Hugging Face day",
        usage="/today [YYYY-MM-DD]",
        help="the most upvoted papers of the latest Hugging Face day (or of a given day)",
        options=(Option("date", "A day like 2025-03-14 (default: the latest Hugging Face day)"),),
    ),
    CommandSpec(
        "search",
        summary="Find papers by words, phrases, authors",
        usage="/search <query>",
        help='find papers: words (all must match), "exact phrase", -word to exclude, '
        "author:Name, since:YYYY-MM-DD, sort:relevance|recent|upvotes",
        options=(
            Option(
                "query",
                'Words (all must match), "exact phrase", -exclude, author:Name, since:2025-01-01',
                required=True,
                max_length=QUERY_OPTION_CHARS,
            ),
            Option(
                "sort",
                "Order of the results (default: relevance)",
                choices=tuple(Choice(v, v) for v in ("relevance", "recent", "upvotes")),
                prefix="sort:",
            ),
        ),
    ),
    CommandSpec(
        "paper",
        summary="One paper with its abstract and links",
        usage="/paper <arXiv id or URL>",
        help="one paper with its abstract and links",
        options=(PAPER_ID,),
    ),
    CommandSpec(
        "similar",
        summary="Papers closest in content to one paper",
        usage="/similar <arXiv id or URL>",
        help="the papers closest in content to one paper (by meaning, not shared words)",
        options=(PAPER_ID,),
    ),
    CommandSpec(
        "subscribe",
        summary="Post a daily digest in this channel (admins)",
        usage="/subscribe [HH:MM] [Area/City] [source]",
        help="daily digest in this channel (admins); source is hf (default) or arXiv"
        " categories, e.g. arxiv:cs.CL,cs.LG",
        access=Access.ADMINS,
        admin_action="subscribe",
        options=(
            # Named, so the router checks each option as what it is: a time
            # given as the timezone is refused as a timezone.
            Option("time", "Local time, 24-hour HH:MM (default {default_time})", prefix="time:"),
            Option(
                "timezone",
                "IANA timezone, e.g. Europe/Berlin (default {default_timezone})",
                autocomplete="timezone",
                prefix="timezone:",
            ),
            Option(
                "source",
                "hf (Hugging Face, the default) or arXiv categories, e.g. arxiv:cs.CL,cs.LG",
                max_length=SOURCE_OPTION_CHARS,
                autocomplete="arxiv_source",
                prefix="source:",
            ),
        ),
    ),
    CommandSpec(
        "unsubscribe",
        summary="Stop this channel's digest (admins)",
        usage="/unsubscribe",
        help="stop the digest (admins)",
        access=Access.ADMINS,
        admin_action="unsubscribe",
    ),
    CommandSpec(
        "settings",
        summary="Show or change this channel's digest settings",
        usage="/settings [key value]",
        help="show or change this channel's digest settings (changing: admins)",
        access=Access.VIEW_ANYONE_CHANGE_ADMIN,
        admin_action="change settings",
        options=(
            Option(
                "key",
                "The setting to change (leave empty to show all)",
                choices=tuple(
                    Choice(key, f"{key}: {text}"[:100]) for key, text in SETTING_KEYS.items()
                ),
            ),
            Option("value", "New value"),
        ),
    ),
    CommandSpec(
        "alert",
        summary="Instant alerts: new papers matching a search (changing: admins)",
        usage="/alert [list | add <query> | remove <n>]",
        help="instant alerts in this channel: new papers matching a search query, posted"
        " soon after they appear (list: anyone; add, remove: admins)",
        access=Access.VIEW_ANYONE_CHANGE_ADMIN,
        admin_action="add or remove alerts",
        view_args=("list",),
        options=(
            Option(
                "action",
                "list, add or remove (default: list)",
                choices=tuple(Choice(v, v) for v in ("list", "add", "remove")),
            ),
            Option(
                "value",
                'add: the query, as for /search (e.g. "diffusion model" -video);'
                " remove: its number",
                max_length=MAX_ALERT_CHARS,
            ),
        ),
    ),
    CommandSpec(
        "preview",
        summary="What this channel's next digest would post now",
        usage="/preview",
        help="what this channel's next digest would contain if it went out now",
    ),
    CommandSpec(
        "help",
        summary="What paperbot can do",
        usage="/help",
        help="this list",
        aliases=("start",),
    ),
)

BY_NAME = {name: spec for spec in CATALOGUE for name in (spec.name, *spec.aliases)}


def command_spec(name: str) -> CommandSpec | None:
    """The command called ``name`` (or one of its aliases), if there is one."""
    return BY_NAME.get(name.casefold())


def needs_admin(name: str, args: str) -> bool:
    """Whether ``/name args`` takes an admin of the chat (unknown commands do not)."""
    spec = command_spec(name)
    return spec is not None and spec.needs_admin(args)


def help_text() -> str:
    """The ``/help`` text: one line per command."""
    return "\n".join(f"{spec.usage} — {spec.help}" for spec in CATALOGUE)


def settings_help() -> str:
    """The settings ``/settings <key> <value>`` changes, one line each, for ``/help``."""
    lines = [f"• {key} — {text}" for key, text in SETTING_KEYS.items()]
    return "Settings (/settings <key> <value>):\n" + "\n".join(lines)


def metric_labels() -> tuple[str, ...]:
    """Every command name a user or a button can run, for the per-command counter."""
    return (*BY_NAME, *BUTTON_ONLY_COMMANDS)
