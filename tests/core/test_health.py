"""GET /healthz: 200 when the database answers and is migrated, 503 with the fix otherwise."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db.migrations.executor import MigrationExecutor

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.django_db


def test_a_migrated_database_is_healthy(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_pending_migrations_are_a_503_that_says_what_to_run(client, monkeypatch):
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("m", False)])

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["migrations"] == "1 pending: run `python manage.py migrate`"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(database_url: str, **env: str) -> Iterator[str]:
    """The project under gunicorn on a free local port with ``database_url``; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "settings.wsgi:application",
            *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "30"),
        ],
        cwd=PROJECT_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings.development",
            "DATABASE_URL": database_url,
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("gunicorn did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


def get(url: str, *, timeout: float) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read()), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers["Content-Type"]


@pytest.mark.slow
def test_a_database_that_never_answers_is_a_503_within_the_deadline(silent_database_url):
    with served(silent_database_url, HEALTHZ_TIMEOUT_SECONDS="2") as url:
        # The first answer also waits for the worker to import the project: timed apart.
        get(f"{url}/healthz", timeout=30)
        started = time.monotonic()
        status, body, content_type = get(f"{url}/healthz", timeout=20)
        elapsed = time.monotonic() - started

    assert status == 503
    assert content_type == "application/json"
    assert body == {"status": "error", "database": "database unavailable"}
    assert elapsed < 4


@pytest.mark.slow
def test_an_unreachable_database_is_named_in_public_without_host_or_role():
    closed_port = free_port()
    with served(f"postgres://secret_role:pw@127.0.0.1:{closed_port}/notifications") as url:
        status, body, _ = get(f"{url}/healthz", timeout=20)

    assert status == 503
    assert body == {"status": "error", "database": "database unavailable"}
