"""The layers a user can rely on: an Airflow-free core under a thin Airflow layer, one error root.

* ``client/`` (signing, transport, tokens, both platforms' protocols) and ``streams/`` (declarations,
  pagers, reader, conditions) import without Airflow installed, so a script or another scheduler
  can use them;
* ``hooks/`` only adapt Connections: they import nothing from ``streams/`` or ``landing/``;
* every exception class the provider defines derives from ``DouyinError``, so ``except DouyinError``
  catches whatever it raises.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import airflow_provider_douyin
from airflow_provider_douyin.client.errors import DouyinError
from tests.conftest import ROOT

PACKAGE = ROOT / "airflow_provider_douyin"
CORE = ("client", "streams", "push")


def _modules(package: str) -> list[str]:
    path = PACKAGE / package
    return [f"airflow_provider_douyin.{package}.{m.name}" for m in pkgutil.iter_modules([str(path)])]


def test_the_core_imports_without_airflow() -> None:
    modules = [name for package in CORE for name in _modules(package)]
    script = textwrap.dedent(
        f"""
        import importlib, sys

        class NoAirflow:
            def find_spec(self, name, path=None, target=None):
                if name == "airflow" or name.startswith("airflow."):
                    raise ImportError(f"{{name}} imported by the Airflow-free core")
                return None

        sys.meta_path.insert(0, NoAirflow())
        for name in {modules!r}:
            importlib.import_module(name)
        print(len({modules!r}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout) == len(modules) >= 15


@pytest.mark.parametrize("module", sorted(p.name for p in (PACKAGE / "hooks").glob("*.py")))
def test_hooks_import_nothing_from_streams_or_landing(module: str) -> None:
    tree = ast.parse((PACKAGE / "hooks" / module).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)] + [
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    ]
    offending = [
        name
        for name in imported
        if name.startswith(("airflow_provider_douyin.streams", "airflow_provider_douyin.landing"))
    ]
    assert offending == [], f"hooks/{module} imports {offending}"


def test_every_exception_the_provider_defines_is_a_douyin_error() -> None:
    classes = {}
    for info in pkgutil.walk_packages(airflow_provider_douyin.__path__, "airflow_provider_douyin."):
        if ".sandbox" in info.name:  # the sandbox is a separate gateway, not the provider
            continue
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                classes[f"{info.name}.{name}"] = obj
    assert len(classes) >= 15
    strays = sorted(name for name, cls in classes.items() if not issubclass(cls, DouyinError))
    assert strays == []


def test_docs_are_self_contained() -> None:
    """No docstring, comment or README cites a section (section sign) of a document users lack."""
    section = chr(0xA7)
    files = [
        *PACKAGE.rglob("*.py"),
        *PACKAGE.rglob("*.md"),
        *(ROOT / "tests").rglob("*.py"),
        ROOT / "README.md",
    ]
    files += [
        *(ROOT / "dags").glob("*.py"),
        *(ROOT / "benchmarks").glob("*.py"),
        *(ROOT / "scripts").glob("*.py"),
    ]
    citing = [str(path.relative_to(ROOT)) for path in files if section in path.read_text(encoding="utf-8")]
    assert len(files) > 100
    assert citing == []
