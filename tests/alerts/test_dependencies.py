"""The dependency between alerts and the domains goes one way: each domain raises and clears
its own alerts through the alerts service; the alerts package imports no domain's code (the
sweeps are composed by the worker)."""

from __future__ import annotations

import ast
from pathlib import Path

import metricx.alerts

DOMAINS = ("sync", "connections", "quality", "ingest", "integrations", "notifications")


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_the_alerts_package_imports_no_domain() -> None:
    package = Path(metricx.alerts.__file__).parent
    offending = {
        f"{path.name}: {module}"
        for path in package.glob("*.py")
        for module in imported_modules(path)
        if any(module == f"metricx.{d}" or module.startswith(f"metricx.{d}.") for d in DOMAINS)
    }
    assert not offending, offending
