"""Fixtures shared by every test: database flavour, an empty cache, worker subprocess environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Servers shared by several apps' tests: the fake OpenAI API, the mock endpoint, a silent database.
pytest_plugins = ["tests.fake_openai", "tests.mock_endpoint", "tests.silent_server"]

(PROJECT_DIR / ".test-db").mkdir(exist_ok=True)


def on_postgresql() -> bool:
    """Whether the suite runs against PostgreSQL (``DATABASE_URL`` names one)."""
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if on_postgresql():
        return
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: run with DATABASE_URL=postgres://… (make test does)"
    )
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Each test starts with empty caches: no throttle counts, no list totals of another test."""
    for cache in caches.all():
        cache.clear()


@pytest.fixture
def subprocess_database_url(transactional_db: None) -> str:
    """A ``DATABASE_URL`` for the test database, so that subprocesses see what the test wrote.

    Only committed data crosses processes, hence ``transactional_db``.
    """
    params = connection.settings_dict
    if on_postgresql():
        host = params["HOST"] or "127.0.0.1"
        port = params["PORT"] or "5432"
        password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
        return f"postgres://{params['USER']}{password}@{host}:{port}/{params['NAME']}"
    return f"sqlite:///{params['NAME']}"


@pytest.fixture
def manage_py(subprocess_database_url: str) -> Callable[..., subprocess.Popen]:
    """Start ``manage.py`` subcommands as real processes against the test database."""
    started: list[subprocess.Popen] = []

    def start(*args: str, env: dict[str, str] | None = None, **popen_kwargs) -> subprocess.Popen:
        process_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings.development",
            "DATABASE_URL": subprocess_database_url,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        process = subprocess.Popen(
            [sys.executable, str(PROJECT_DIR / "manage.py"), *args],
            cwd=PROJECT_DIR,
            env=process_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen_kwargs,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
