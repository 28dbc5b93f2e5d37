"""Finding a backend's bundled numbered migrations (``NNN_name.sql`` in its package)."""

from __future__ import annotations

from importlib import resources


def bundled_migrations(package: str) -> list[tuple[int, str]]:
    """(version, sql) of every migration in ``package``'s ``migrations`` folder, in order."""
    folder = resources.files(package) / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text(encoding="utf-8")))
    return sorted(found)
