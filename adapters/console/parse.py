"""Reading one console line as a command."""

from __future__ import annotations

import re

from bot.models import Button

# Any word after "/" is a command name: one the router does not know gets
# "Unknown command", not the hint that commands start with "/".
_COMMAND_RE = re.compile(r"^/([^\s@]+)(?:@\S+)?(?:\s+(.*))?$", re.DOTALL)


def parse_line(line: str, buttons: tuple[Button, ...] = ()) -> tuple[str, str] | None:
    """``(command, args)`` for a line like ``/search llm``, or None if it is not a command.

    A line naming a button alias of the previous reply (``/next``, ``/2``)
    runs that button's command.
    """
    text = line.strip()
    match = _COMMAND_RE.match(text)
    if not match:
        return None
    name, args = match.group(1).casefold(), (match.group(2) or "").strip()
    for button in buttons:
        if button.alias and button.alias == name and not args:
            return button.command, button.args
    return name, args
