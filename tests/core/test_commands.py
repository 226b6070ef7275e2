"""Commands facing a database that is down or not migrated: one line and exit 1, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import InterfaceError, OperationalError, ProgrammingError

from core.commands import database_error_message

PROJECT_DIR = Path(__file__).resolve().parents[2]


def run_manage(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.development",
        "DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, str(PROJECT_DIR / "manage.py"), *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [
        ("runpipeline", "deliver"),
        ("runpipeline", "generate"),
        ("users", "--id", "1"),
        ("load_users",),
    ],
)
def test_unreachable_database_is_one_line(args: tuple[str, ...]) -> None:
    result = run_manage(*args, database_url=f"postgres://postgres@127.0.0.1:{closed_port()}/x")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: database unavailable: ")
    assert line.endswith("(check DATABASE_URL)")


def test_unmigrated_database_says_to_migrate(tmp_path: Path) -> None:
    result = run_manage(
        "runpipeline", "generate", database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    )

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: the database is not migrated (no such table: accounts_user): "
        "run `python manage.py migrate`"
    )


def test_missing_postgresql_table_says_to_migrate() -> None:
    error = ProgrammingError('relation "accounts_user" does not exist')
    error.__cause__ = psycopg.errors.UndefinedTable('relation "accounts_user" does not exist')

    assert database_error_message(error) == (
        'the database is not migrated (relation "accounts_user" does not exist): '
        "run `python manage.py migrate`"
    )


def test_other_programming_errors_keep_their_traceback() -> None:
    error = ProgrammingError('syntax error at or near "SELEC"')
    error.__cause__ = psycopg.errors.SyntaxError('syntax error at or near "SELEC"')

    assert database_error_message(error) is None


def test_operational_errors_name_the_setting_to_check() -> None:
    message = database_error_message(OperationalError("database is locked"))

    assert message == "database unavailable: database is locked (check DATABASE_URL)"


def test_a_closed_connection_is_the_database_state_too() -> None:
    message = database_error_message(InterfaceError("connection already closed"))

    assert message == "database unavailable: connection already closed (check DATABASE_URL)"
