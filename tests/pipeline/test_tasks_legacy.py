"""The deprecated ``delivery.tasks`` paths still run the pipeline's tasks, for tasks queued before the move."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings
from django.utils.module_loading import import_string
from freezegun import freeze_time

from outbox.models import DailyNotification
from pipeline import tasks
from tests.factories import notification_create, users_create

Status = DailyNotification.Status


def test_every_old_path_is_an_alias_of_its_new_path():
    assert set(tasks.LEGACY_TASKS) == {
        "delivery.tasks.notifications_generate_today",
        "delivery.tasks.notifications_deliver_due",
    }
    for old, new in tasks.LEGACY_TASKS.items():
        assert old.rsplit(".", 1)[1] == new.rsplit(".", 1)[1]
        assert callable(import_string(old))


@pytest.mark.django_db
@override_settings(OPENAI_API_KEY="")
@freeze_time("2026-11-22 07:00:00")  # the date's window is still open
def test_the_old_generate_path_generates_the_date_it_was_queued_for():
    users_create(3)
    summary = import_string("delivery.tasks.notifications_generate_today")("2026-11-22")
    assert summary.startswith("2026-11-22 offline: created 3,")
    assert DailyNotification.objects.filter(date="2026-11-22").count() == 3


@pytest.mark.django_db
def test_the_old_deliver_path_delivers_due_rows(mock_endpoint):
    for user in users_create(2):
        notification_create(user=user)
    summary = import_string("delivery.tasks.notifications_deliver_due")()
    assert summary.startswith("delivered 2,")
    assert DailyNotification.objects.filter(status=Status.DELIVERED).count() == 2


def test_the_target_is_looked_up_when_the_task_runs(monkeypatch, caplog):
    monkeypatch.setattr(tasks, "notifications_deliver_due", lambda: "from the new path")
    with caplog.at_level(logging.WARNING, logger="delivery"):
        result = import_string("delivery.tasks.notifications_deliver_due")()
    assert result == "from the new path"
    [record] = [r for r in caplog.records if r.action == "delivery.deprecated_task_path"]
    assert "task=delivery.tasks.notifications_deliver_due" in record.getMessage()
