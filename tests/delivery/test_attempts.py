"""The attempt log's bulk insert writes what the ORM would."""

from __future__ import annotations

import datetime

import pytest

from delivery.attempts import attempts_write
from delivery.models import DeliveryAttempt
from tests.factories import notification_create

pytestmark = pytest.mark.django_db


def test_attempts_are_written_as_given():
    notification = notification_create()
    started = datetime.datetime(2026, 11, 22, 8, 0, 1, 250000, tzinfo=datetime.UTC)

    attempts_write(
        [
            DeliveryAttempt(
                notification_id=notification.id,
                started_at=started,
                duration_ms=12,
                http_status=503,
                error="",
                response_excerpt="busy — \ufffd",
            ),
            DeliveryAttempt(
                notification_id=notification.id,
                started_at=started + datetime.timedelta(seconds=30),
                duration_ms=10_000,
                http_status=None,
                error="Timeout: no complete answer within 10s",
                response_excerpt="",
            ),
        ]
    )

    rows = list(
        DeliveryAttempt.objects.filter(notification=notification).values_list(
            "started_at", "duration_ms", "http_status", "error", "response_excerpt"
        )
    )
    assert rows == [
        (started, 12, 503, "", "busy — \ufffd"),
        (
            started + datetime.timedelta(seconds=30),
            10_000,
            None,
            "Timeout: no complete answer within 10s",
            "",
        ),
    ]


def test_nothing_to_write_sends_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        attempts_write([])


def attempts_for(notification, count: int, *, excerpt: str = "") -> list[DeliveryAttempt]:
    started = datetime.datetime(2026, 11, 22, 8, 0, tzinfo=datetime.UTC)
    return [
        DeliveryAttempt(
            notification_id=notification.id,
            started_at=started + datetime.timedelta(seconds=number),
            duration_ms=number,
            http_status=200,
            error="",
            response_excerpt=excerpt,
        )
        for number in range(count)
    ]


@pytest.mark.parametrize(
    "excerpt",
    ['{"ok": true}', "123", "null", "[1, 2]", 'quote " and \\ back', "line\nnext\ttab", "😀 ünï"],
)
def test_any_answer_text_is_stored_as_it_was(excerpt):
    notification = notification_create()

    attempts_write(attempts_for(notification, 1, excerpt=excerpt))

    assert DeliveryAttempt.objects.get().response_excerpt == excerpt


def test_on_sqlite_a_settle_of_attempts_is_one_statement_per_chunk(
    monkeypatch, django_assert_num_queries
):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL writes the log by COPY")
    monkeypatch.setattr("delivery.attempts.SETTLE_CHUNK", 20)
    notification = notification_create()

    with django_assert_num_queries(3):
        attempts_write(attempts_for(notification, 45))

    assert sorted(DeliveryAttempt.objects.values_list("duration_ms", flat=True)) == list(range(45))
