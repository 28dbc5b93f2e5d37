"""The Docker files, read statically: no Docker engine needed, and the docs cannot drift."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from adapters.telegram.settings import TelegramSettings
from bot.config import Settings
from bot.plugins import adapter_plugins

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"PAPERBOT_TELEGRAM_TOKEN", "PAPERBOT_DISCORD_TOKEN", "PAPERBOT_TELEGRAM_WEBHOOK_SECRET"}


def settings_classes() -> list[type[BaseSettings]]:
    """The core's settings and each installed adapter's."""
    return [Settings, *(plugin.settings_class for plugin in adapter_plugins())]


def variables() -> list[str]:
    """Every PAPERBOT_ variable: the core's and each installed adapter's."""
    return [
        f"{cls.model_config.get('env_prefix', '')}{name.upper()}"
        for cls in settings_classes()
        for name in cls.model_fields
    ]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            pairs.append((instruction.upper(), rest.strip()))
    return pairs


def instructions(name: str) -> list[str]:
    return [rest for instruction, rest in dockerfile() if instruction == name]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_dockerfile_builds_a_slim_non_root_image_with_data_on_a_volume() -> None:
    assert [base.split(" ")[0] for base in instructions("FROM")] == ["python:3.11-slim"]
    users = instructions("USER")
    assert users and users[-1] not in {"root", "0", "0:0"}
    assert any("pip install ." in run for run in instructions("RUN"))
    assert instructions("WORKDIR") == ["/app"]
    assert any("/data" in volume for volume in instructions("VOLUME"))
    env = " ".join(instructions("ENV"))
    assert "PAPERBOT_DB=/data/paperbot.db" in env
    assert instructions("CMD") == ['["paperbot", "run"]']


def test_dockerfile_copies_the_seed_data_the_package_ships() -> None:
    # The demo and `ingest --source seeds` read the papers and the sample lists.
    copied = " ".join(instructions("COPY"))
    assert "seeds/papers.jsonl" in copied and "seeds/lists.json" in copied


def test_dockerfile_health_check_asks_healthz_with_python() -> None:
    (check,) = instructions("HEALTHCHECK")
    assert "/healthz" in check and '"python"' in check
    assert "curl" not in check and "wget" not in check  # neither exists in the slim image


def test_dockerignore_keeps_secrets_and_databases_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", "*.db", ".git", ".venv"} <= set(ignored)


def test_compose_runs_the_bot_with_a_named_volume_and_env_file(compose: dict) -> None:
    service = compose["services"]["paperbot"]
    # Failures restart, a bounded number of times (no endless loop without a token).
    policy, _, retries = service["restart"].partition(":")
    assert policy == "on-failure" and 1 <= int(retries) <= 20
    assert service["env_file"] == ".env"
    volume, target = service["volumes"][0].split(":")
    assert target == "/data" and volume in compose["volumes"]
    assert service["environment"]["PAPERBOT_DB"] == "/data/paperbot.db"
    assert str(service["user"]).split(":")[0] not in {"root", "0"}
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and "/healthz" in " ".join(test)
    assert int(service["environment"]["PAPERBOT_HTTP_PORT"]) == 8080
    assert ":8080/healthz" in " ".join(test)


def test_compose_sets_the_webhook_server_to_listen_on_a_published_port(compose: dict) -> None:
    service = compose["services"]["paperbot"]
    environment = service["environment"]
    assert environment["PAPERBOT_TELEGRAM_WEBHOOK_LISTEN"] == "0.0.0.0"
    port = int(environment["PAPERBOT_TELEGRAM_WEBHOOK_PORT"])
    assert f"127.0.0.1:{port}:{port}" in service["ports"]
    listen = TelegramSettings(_env_file=None, webhook_listen="0.0.0.0")  # type: ignore[call-arg]
    assert listen.webhook_port == port


def test_compose_keeps_secrets_out(compose: dict) -> None:
    assert not SECRETS & set(compose["services"]["paperbot"]["environment"])


@pytest.mark.parametrize("name", ["docker-compose.yml", ".env.example"])
def test_every_setting_is_documented(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    missing = [var for var in variables() if not re.search(rf"\b{var}\b", text)]
    assert missing == []


def test_env_example_is_all_comments_and_values_parse() -> None:
    """Every variable is commented out, and uncommenting it gives a valid setting."""
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    assignments = dict(
        line.lstrip("# ").split("=", 1) for line in lines if re.match(r"#\s*PAPERBOT_\w+=", line)
    )
    assert set(assignments) == set(variables())
    assert all(not line.strip() or line.startswith("#") for line in lines)
    # Secrets and "unset" values are blank in the example; the rest are the defaults.
    differs = set()
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        values: dict[str, Any] = {
            key.removeprefix(prefix).lower(): shlex.split(value)[0]
            for key, value in assignments.items()
            if value and key.removeprefix(prefix).lower() in cls.model_fields
        }
        settings = cls(_env_file=None, **values)
        defaults = cls(_env_file=None)
        differs |= {k for k in values if getattr(settings, k) != getattr(defaults, k)}
    # The example documents the default of everything except the port it suggests.
    assert differs == {"http_port"}


def test_compose_scale_profile_runs_two_replicas_on_the_official_postgres_image(
    compose: dict,
) -> None:
    services = compose["services"]
    database, replicas = services["postgres"], services["paperbot-scaled"]
    assert database["profiles"] == replicas["profiles"] == ["scale"]
    assert "profiles" not in services["paperbot"]  # `docker compose up` stays SQLite only
    assert database["image"].split(":")[0] == "postgres"
    volume, target = database["volumes"][0].split(":")
    assert volume in compose["volumes"] and target == "/var/lib/postgresql/data"
    assert replicas["deploy"]["replicas"] == 2
    assert replicas["depends_on"]["postgres"]["condition"] == "service_healthy"
    url = replicas["environment"]["PAPERBOT_DATABASE_URL"]
    assert url.startswith("postgresql://paperbot:${POSTGRES_PASSWORD") and "@postgres:" in url
    # The shared settings and hardening are the single service's, not a drifting copy.
    for key in ("image", "restart", "user", "read_only", "healthcheck", "stop_grace_period"):
        assert replicas[key] == services["paperbot"][key]
    assert set(services["paperbot"]["environment"]) < set(replicas["environment"])
    # Each replica publishes /healthz on its own host port, apart from the single service's.
    published = {port.rsplit(":", 1)[0] for port in replicas["ports"]}
    assert "127.0.0.1:8081-8082" in published
    assert not published & {port.rsplit(":", 1)[0] for port in services["paperbot"]["ports"]}
    assert not SECRETS & set(replicas["environment"])
