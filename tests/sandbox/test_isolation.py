"""The sandbox re-implements the protocol instead of importing the client, so the two check
each other: a bug shared through common code would pass both. This keeps it that way."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import airflow_provider_douyin.sandbox as sandbox

SANDBOX = Path(sandbox.__file__).parent
PACKAGE = "airflow_provider_douyin"
ALLOWED_THIRD_PARTY = {"pytest"}  # the pytest plugin


def _imports(path: Path) -> list[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = [PACKAGE, *path.parent.relative_to(SANDBOX.parent).parts]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.append(".".join([*base, node.module] if node.module else base))
            else:
                names.append(node.module or "")
    return names


def test_the_sandbox_imports_only_itself_the_standard_library_and_pytest() -> None:
    modules = sorted(SANDBOX.rglob("*.py"))
    assert len(modules) > 20
    foreign = {
        f"{path.relative_to(SANDBOX)}: {name}"
        for path in modules
        for name in _imports(path)
        if not (
            name == f"{PACKAGE}.sandbox"
            or name.startswith(f"{PACKAGE}.sandbox.")
            or name.split(".")[0] in sys.stdlib_module_names
            or name.split(".")[0] in ALLOWED_THIRD_PARTY
        )
    }
    assert not foreign, sorted(foreign)
