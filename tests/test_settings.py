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
