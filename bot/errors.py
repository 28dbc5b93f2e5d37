"""Errors whose message is meant for the chat user."""


class UserError(ValueError):
    """Bad input from a user; ``str(error)`` is the one-line reply to show."""
