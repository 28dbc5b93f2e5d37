"""The Telegram adapter's settings: the ``PAPERBOT_TELEGRAM_*`` variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from bot.config import blank_is_none, http_url, settings_config


class TelegramSettings(BaseSettings):
    """Bot token, Bot API root and the optional webhook; see README.md's configuration table."""

    model_config = settings_config("PAPERBOT_TELEGRAM_")

    token: SecretStr | None = None
    api_url: str = "https://api.telegram.org"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None:
            http_url(value)  # checked, but kept as given: Telegram is told this exact URL
        return value

    @field_validator("token", "webhook_secret", "webhook_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return blank_is_none(value)
