"""The production flavour: `check --deploy` is clean, and gunicorn serves the API locked down over HTTPS.

Each test runs the real thing in a subprocess with the production environment.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from core.api.authentication import api_key_create
from tests.conftest import PROJECT_DIR
from tests.factories import user_create

pytestmark = pytest.mark.slow


def production_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,notifications.example.com",
        **overrides,
    )
    return env


def test_check_deploy_reports_nothing_with_the_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_DIR,
        env=production_env(DATABASE_URL="sqlite:///:memory:"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    # security.W021 (HSTS preload) is silenced, with its reason, in settings/production.py.
    assert "System check identified no issues (1 silenced)." in result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn(subprocess_database_url: str) -> Iterator:
    """Start gunicorn on the production settings against the test database; yields ``start(**env)``."""
    started: list[subprocess.Popen] = []

    def start(**overrides: str) -> str:
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "settings.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                # gunicorn itself believes X-Forwarded-Proto from loopback; here only Django may.
                "--forwarded-allow-ips",
                "192.0.2.1",
            ],
            cwd=PROJECT_DIR,
            env=production_env(DATABASE_URL=subprocess_database_url, **overrides),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()
            try:
                requests.get(f"{url}/healthz", timeout=5)
                return url
            except (requests.ConnectionError, requests.Timeout):
                # Not listening yet, or its worker still importing the project.
                time.sleep(0.2)
        raise AssertionError("gunicorn did not answer")

    yield start
    for process in started:
        process.terminate()
        process.communicate(timeout=30)


def test_behind_the_proxy_the_lookup_needs_a_key_and_answers_with_the_security_headers(gunicorn):
    user_create(user_id="1")
    _, key = api_key_create(name="backend")
    url = gunicorn()
    https = {"X-Forwarded-Proto": "https"}

    anonymous = requests.get(f"{url}/users/", headers=https, timeout=10)
    with_key = requests.get(
        f"{url}/users/", headers={**https, "Authorization": f"Api-Key {key}"}, timeout=10
    )
    plain = requests.get(f"{url}/users/", allow_redirects=False, timeout=10)
    health = requests.get(f"{url}/healthz", allow_redirects=False, timeout=10)
    error = requests.get(f"{url}/api/v1/users/nobody/", headers=https, timeout=10)

    assert (anonymous.status_code, anonymous.headers["WWW-Authenticate"]) == (401, "Api-Key")
    assert anonymous.json() == {"error": "Authentication credentials were not provided."}
    assert anonymous.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert anonymous.headers["X-Content-Type-Options"] == "nosniff"
    assert anonymous.headers["X-Frame-Options"] == "DENY"
    assert with_key.status_code == 200 and with_key.json()[0]["user_id"] == "1"
    assert (plain.status_code, plain.headers["Location"]) == (
        301,
        "https://127.0.0.1" + url[16:] + "/users/",
    )
    assert health.status_code == 200
    assert (error.status_code, error.headers["Content-Type"]) == (401, "application/json")


def test_with_both_flags_off_it_serves_plain_http(gunicorn):
    url = gunicorn(DJANGO_SSL_REDIRECT="false", DJANGO_TRUST_X_FORWARDED_PROTO="false")

    anonymous = requests.get(f"{url}/users/", timeout=10, allow_redirects=False)
    docs = requests.get(f"{url}/api/docs/", timeout=10, allow_redirects=False)
    spoofed = requests.get(
        f"{url}/users/", headers={"X-Forwarded-Proto": "https"}, timeout=10, allow_redirects=False
    )

    assert anonymous.status_code == 401 and anonymous.json()["error"]
    assert docs.status_code == 401
    assert "Strict-Transport-Security" not in spoofed.headers
