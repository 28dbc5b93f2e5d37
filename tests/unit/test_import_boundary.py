"""The core owns its ports: adapters and storage backends import it, never the reverse,
and the core never depends on a chat platform library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "adapters", "storage", "seeds")
PLATFORM_LIBRARIES = {"discord", "telegram"}
# What each package must never import, directly or through an import inside a function.
FORBIDDEN = {
    "bot": {"adapters", "storage", *PLATFORM_LIBRARIES},
    "storage": {"adapters", *PLATFORM_LIBRARIES},
}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Which top-level package imports which (the project's own packages only)."""
    graph: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            roots = {name.split(".")[0] for name in imported_modules(path)}
            graph[package] |= (roots & set(PACKAGES)) - {package}
    return graph


def test_core_and_storage_import_nothing_they_must_not() -> None:
    offenders = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            bad = {name for name in imported_modules(path) if name.split(".")[0] in forbidden}
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


def test_packages_import_each_other_without_cycles() -> None:
    graph = package_graph()
    cycles = [
        f"{a} <-> {b}"
        for a in PACKAGES
        for b in PACKAGES
        if a < b and b in graph[a] and a in graph[b]
    ]
    assert cycles == []
    assert graph["bot"] == set()  # the core depends on no other package of the project


def test_the_cycle_check_sees_a_cycle(tmp_path: Path) -> None:
    """The check is not vacuous: an import from the core into an adapter is found."""
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from adapters.console.adapter import ConsoleAdapter\n")
    assert "adapters.console.adapter" in imported_modules(source)


def test_importing_every_core_module_loads_no_platform_library() -> None:
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in ("bot", "storage")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__main__.py"
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        # Listing the plugins (as log redaction and doctor do) must not load them either.
        "from bot.plugins import adapter_plugins, storage_plugins\n"
        "adapter_plugins(); storage_plugins()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('discord', 'telegram')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
