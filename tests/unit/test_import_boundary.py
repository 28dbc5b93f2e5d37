"""The core never depends on a chat platform library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"discord", "telegram"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
            if node.module.split(".")[0] == "adapters":
                roots.add(node.module)
    return roots


def test_core_and_storage_sources_never_import_platform_libraries() -> None:
    offenders = []
    for package in ("bot", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            roots = imported_roots(path)
            bad = roots & FORBIDDEN
            bad |= {r for r in roots if r.startswith(("adapters.discord", "adapters.telegram"))}
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


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
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('discord', 'telegram')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
