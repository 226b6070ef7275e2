"""The production flavour refuses an unsafe configuration (imported in a clean subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_DIR

SAFE = {
    "DJANGO_SECRET_KEY": "k" * 50,
    "DJANGO_ALLOWED_HOSTS": "notifications.example.com",
}


def production_import(**overrides: str | None) -> subprocess.CompletedProcess:
    """Import settings.production with SAFE plus ``overrides`` (None removes a variable)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(SAFE)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", "import settings.production as s; print(s.DEBUG, s.ALLOWED_HOSTS)"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_safe_configuration_starts_without_debug():
    result = production_import()

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['notifications.example.com']"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY must be set in production."),
        ({"DJANGO_SECRET_KEY": "   "}, "DJANGO_SECRET_KEY must be set in production."),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY must be a random value"),
        (
            {"DJANGO_SECRET_KEY": "django-insecure-" + "x" * 40},
            "DJANGO_SECRET_KEY must be a random value",
        ),
        ({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS must be set in production"),
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG must not be on in production"),
        ({"DJANGO_DEBUG": "1"}, "DJANGO_DEBUG must not be on in production"),
    ],
)
def test_an_unsafe_configuration_refuses_to_start(overrides, message):
    result = production_import(**overrides)

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


def manage_py(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env={**clean, "DATABASE_URL": "sqlite:///:memory:", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "../etc/passwd", "UTC "])
def test_a_bad_time_zone_is_one_line_naming_the_variable(zone):
    result = manage_py("check", TIME_ZONE=zone)

    if zone == "UTC ":  # surrounding blanks are trimmed like every variable's
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1
    assert result.stderr == (
        "configuration error: TIME_ZONE must be an IANA time zone name such as Europe/Paris,"
        f" got {zone!r}\n"
    )


def test_a_good_time_zone_starts():
    result = manage_py("check", TIME_ZONE="America/Los_Angeles")

    assert result.returncode == 0, result.stderr


def test_wsgi_without_a_settings_module_is_production_not_development():
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "-c", "import settings.wsgi"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY must be set in production." in result.stderr

    configured = subprocess.run(
        [
            sys.executable,
            "-c",
            "import settings.wsgi; from django.conf import settings as s; print(s.DEBUG, s.SETTINGS_MODULE)",
        ],
        cwd=PROJECT_DIR,
        env={**env, **SAFE},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert configured.stdout.strip() == "False settings.production", configured.stderr


def test_postgresql_gets_a_connect_and_a_statement_timeout():
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import settings.development as s; o = s.DATABASES['default']['OPTIONS'];"
            " print(o['connect_timeout'], o['options'])",
        ],
        cwd=PROJECT_DIR,
        env={
            **env,
            "DATABASE_URL": "postgres://u@db.example:5432/n",
            "DATABASE_CONNECT_TIMEOUT": "7",
            "DATABASE_STATEMENT_TIMEOUT": "2.5",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.stdout.strip() == "7 -c statement_timeout=2500", result.stderr


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_the_statement_timeout_is_in_force_on_the_connection():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "30s"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ten", "API_COUNT_CACHE_SECONDS must be an integer, got 'ten'"),
        ("-1", "API_COUNT_CACHE_SECONDS must be at least 0, got -1"),
    ],
)
def test_a_bad_count_cache_ttl_is_one_line_naming_the_variable(value, message):
    result = manage_py("check", API_COUNT_CACHE_SECONDS=value)

    assert (result.returncode, result.stderr) == (1, f"configuration error: {message}\n")


def test_a_count_cache_ttl_of_zero_starts():
    result = manage_py("check", API_COUNT_CACHE_SECONDS="0")

    assert result.returncode == 0, result.stderr
