"""GET /healthz: 200 when the database answers and is migrated, 503 with the fix otherwise."""

from __future__ import annotations

import pytest
from django.db.migrations.executor import MigrationExecutor

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
