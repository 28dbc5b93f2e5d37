"""Settings from the environment (prefix ``PAPERBOT_``) or a ``.env`` file."""

from __future__ import annotations

import difflib
import functools
import re
from datetime import time
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The password of a URL (postgresql://user:password@host).
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]+@")
TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ConfigError(Exception):
    """A setting is invalid; the message names the variable and the problem."""


def parse_hhmm(text: str) -> time:
    """Parse ``HH:MM`` (24-hour) or raise ``ValueError`` with a readable message."""
    match = TIME_RE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time like 09:00 (24-hour HH:MM)")
    return time(int(match.group(1)), int(match.group(2)))


@functools.cache
def _zone_names() -> dict[str, str]:
    """Every IANA zone name this system knows, by its case-folded spelling."""
    return {name.casefold(): name for name in (*available_timezones(), "UTC")}


def check_timezone(name: str) -> str:
    """The canonical spelling of IANA timezone ``name`` (any case), else ``ValueError``.

    The error suggests the closest known names, so ``Europe/Berln`` is met
    with ``Europe/Berlin`` rather than only a format rule.
    """
    text = name.strip()
    canonical = _zone_names().get(text.casefold())
    if canonical is not None:
        try:
            ZoneInfo(canonical)
            return canonical
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass  # listed but unreadable: reported like an unknown name
    close = difflib.get_close_matches(text.casefold(), _zone_names(), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(_zone_names()[c] for c in close)}? " if close else ""
    raise ValueError(f"unknown timezone {text[:64]!r}: {hint}use Area/City, e.g. Europe/Berlin")


def check_url(value: str, scheme: str) -> str:
    """``value`` without a trailing slash if it is a ``scheme`` or secure-``scheme`` URL
    with a host and, if given, a port from 1 to 65535; else ``ValueError`` saying why."""
    kind = f"{'an' if scheme == 'http' else 'a'} {scheme}(s) URL"
    try:
        parts = urlsplit(value.strip())
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        raise ValueError(
            f"{value!r} is not {kind}: its port must be a number from 1 to 65535"
        ) from None
    if parts.scheme.lower() not in (scheme, scheme + "s"):
        raise ValueError(f"{value!r} is not {kind}")
    if not parts.hostname or any(ch.isspace() for ch in value.strip()):
        raise ValueError(f"{value!r} is not {kind}: it has no valid host")
    if port == 0:
        raise ValueError(f"{value!r} is not {kind}: its port must be a number from 1 to 65535")
    return value.strip().rstrip("/")


def settings_config(prefix: str = "PAPERBOT_") -> SettingsConfigDict:
    """How every settings class reads its variables: the environment, then a ``.env`` file."""
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )


def http_url(value: str) -> str:
    """``value`` without a trailing slash if it is an http(s) URL, else ``ValueError``."""
    return check_url(value, "http")


def ws_url(value: str) -> str:
    """``value`` without a trailing slash if it is a ws(s) URL, else ``ValueError``."""
    return check_url(value, "ws")


def blank_is_none(value: object) -> object:
    """An empty or blank variable means "not set" (as in a ``.env`` line ``X=``)."""
    return None if isinstance(value, str) and not value.strip() else value


class Settings(BaseSettings):
    """The core's knobs; each adapter reads its own. See the configuration table in README.md."""

    model_config = settings_config()

    db: Path = Path("./paperbot.db")
    # Which storage backend and where: sqlite:///path (or a bare path), or a
    # scheme another installed storage plugin accepts. Unset: PAPERBOT_DB.
    database_url: str | None = None
    hf_endpoint: str = "https://huggingface.co"
    # arXiv's category feeds and export API (tests and mirrors point elsewhere).
    arxiv_feed_url: str = "https://rss.arxiv.org"
    arxiv_api_url: str = "https://export.arxiv.org"
    default_post_time: str = "09:00"
    default_timezone: str = "UTC"
    ingest_days: int = Field(default=3, ge=1, le=30)
    ingest_interval_minutes: int = Field(default=30, ge=1, le=1440)
    tick_seconds: float = Field(default=15.0, gt=0, le=30)
    grace_hours: float = Field(default=6.0, ge=0, le=72)
    # Multiplies every platform rate-limit window (benchmarks and tests against
    # fakes that enforce the same scaled limits); 1 means the real limits.
    rate_limit_scale: float = Field(default=1.0, gt=0, le=1)
    # Role and outbox leases of processes sharing a database: a dead holder's
    # roles move within this (plus a renewal, lease / 3). Shorter in tests.
    lease_seconds: float = Field(default=10.0, ge=1, le=60)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    http_port: int | None = Field(default=None, ge=1, le=65535)
    http_host: str = "127.0.0.1"
    # Which embedder gives papers vectors for semantic search and /similar:
    # an installed plugin's name, optionally "name:argument"; "none" turns it off.
    embedder: str = "wordllama"
    # Where the semantic index is saved between runs. Unset: beside an SQLite
    # database file; for a server database, the user's cache folder.
    index_dir: Path | None = None

    @field_validator("hf_endpoint", "arxiv_feed_url", "arxiv_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("default_post_time")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @field_validator("default_timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"{value!r} is not one of DEBUG, INFO, WARNING, ERROR")
        return value.upper()

    @field_validator("http_port", "database_url", "index_dir", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return blank_is_none(value)

    @property
    def post_time(self) -> time:
        """The default local post time for new subscriptions."""
        return parse_hhmm(self.default_post_time)

    @property
    def storage_shown(self) -> str:
        """Where the database is, for messages: the path, or the URL with its password masked."""
        if self.database_url is None:
            return str(self.db)
        return mask_url_passwords(self.database_url)

    @property
    def storage_password(self) -> str | None:
        """The password in ``PAPERBOT_DATABASE_URL``, if any (a secret for the log redaction)."""
        if self.database_url is None:
            return None
        try:
            return urlsplit(self.database_url).password
        except ValueError:  # a malformed URL: its storage plugin reports it
            return None

    @property
    def storage_label(self) -> str:
        """The variable that names the database, for messages: ``PAPERBOT_DB=./paperbot.db``."""
        variable = "PAPERBOT_DB" if self.database_url is None else "PAPERBOT_DATABASE_URL"
        return f"{variable}={self.storage_shown}"

    @property
    def storage_url(self) -> str:
        """Where the database is: ``PAPERBOT_DATABASE_URL``, else the path ``PAPERBOT_DB``."""
        return self.database_url if self.database_url is not None else str(self.db)


def mask_url_passwords(text: str) -> str:
    """``text`` with the password of every URL in it shown as ``***``."""
    return URL_PASSWORD.sub(r"\1***@", text)


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: object) -> S:
    """Load ``cls`` from the environment, turning validation errors into one ``ConfigError``."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # a rule across fields names its variables itself
            raise ConfigError(message) from None
        prefix = cls.model_config.get("env_prefix", "")
        raise ConfigError(f"{prefix}{str(first['loc'][0]).upper()}: {message}") from None


def load_settings(**overrides: object) -> Settings:
    """The core settings, a bad value reported as one readable ``ConfigError``."""
    return load(Settings, **overrides)
