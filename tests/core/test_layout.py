"""The apps' imports point one way, down ``pipeline → delivery → outbox → accounts → core``.

Read from the source with ``ast`` so an import that points back up fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

CHAIN = ["core", "accounts", "outbox", "delivery", "pipeline"]  # each may import those before it
APPS = [*CHAIN, "devtools"]


def imported_apps(path: Path) -> set[tuple[str, int]]:
    """The project apps ``path`` imports, with the line of each import."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
    return {(target, line) for target, line in found if target in APPS}


def upward_imports(app: str) -> list[str]:
    """Each import in ``app`` that points up the chain or into ``devtools``."""
    problems = []
    for path in sorted((PROJECT_DIR / app).rglob("*.py")):
        for target, line in sorted(imported_apps(path)):
            if target == app or app == "devtools":
                continue
            where = f"{path.relative_to(PROJECT_DIR)}:{line}"
            if target == "devtools":
                problems.append(f"{where}: {app} imports devtools")
            elif CHAIN.index(target) > CHAIN.index(app):
                problems.append(f"{where}: {app} imports {target}")
    return problems


@pytest.mark.parametrize("app", CHAIN)
def test_imports_point_down_the_chain(app: str) -> None:
    assert upward_imports(app) == []


def test_the_check_sees_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "bad.py").write_text(
        "import core\nfrom delivery.worker import run\nfrom devtools import mock_endpoint\n"
    )
    monkeypatch.setattr(f"{__name__}.PROJECT_DIR", tmp_path)
    assert upward_imports("outbox") == [
        "outbox/bad.py:2: outbox imports delivery",
        "outbox/bad.py:3: outbox imports devtools",
    ]


def test_settings_holds_configuration_only() -> None:
    modules = {path.name for path in (PROJECT_DIR / "settings").glob("*.py")}
    assert modules == {
        "__init__.py",
        "base.py",
        "development.py",
        "production.py",
        "test.py",
        "urls.py",
        "wsgi.py",
    }
