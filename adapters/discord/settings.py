"""The Discord adapter's settings: the ``PAPERBOT_DISCORD_*`` variables."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from bot.config import blank_is_none, http_url, settings_config, ws_url


class DiscordSettings(BaseSettings):
    """Bot token, API and gateway roots, a test guild and sharding; see README.md."""

    model_config = settings_config("PAPERBOT_DISCORD_")

    token: SecretStr | None = None
    api_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg"
    guild_id: int | None = None
    shards: int | None = Field(default=None, ge=1)
    shard_ids: str | None = None

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, value: str) -> str:
        return ws_url(value)

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*", value):
            raise ValueError(f"{value!r} is not a comma-separated list of shard numbers")
        return value

    @field_validator("token", "shard_ids", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return blank_is_none(value)

    @property
    def shard_id_list(self) -> list[int] | None:
        """``PAPERBOT_DISCORD_SHARD_IDS`` as numbers, if set."""
        if self.shard_ids is None:
            return None
        return [int(part) for part in self.shard_ids.split(",")]

    @model_validator(mode="after")
    def _shards_fit(self) -> DiscordSettings:
        ids = self.shard_id_list
        if ids is not None:
            if self.shards is None:
                raise ValueError(
                    "PAPERBOT_DISCORD_SHARD_IDS: needs PAPERBOT_DISCORD_SHARDS (the total) as well"
                )
            if any(shard >= self.shards for shard in ids):
                raise ValueError(
                    f"PAPERBOT_DISCORD_SHARD_IDS: shard ids must be below {self.shards}"
                )
        return self
