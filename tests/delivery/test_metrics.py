"""/metrics: Prometheus text that parses, figures that match the database, the token in production."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import pytest
from django.utils import timezone
from freezegun import freeze_time
from prometheus_client.parser import text_string_to_metric_families

from delivery.models import DeliveryAttempt
from outbox.models import DailyNotification
from tests.conftest import PROJECT_DIR
from tests.factories import notification_create, users_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status
NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
TODAY = NOW.date()
TOKEN = "a-metrics-token-of-some-length"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of the exposition as {(name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


@pytest.fixture
def queue() -> None:
    """Today: 3 delivered, 2 pending (1 due since 10 min, 1 not yet due), 1 failed, 1 sending
    with an expired lease; yesterday: 2 delivered, 1 expired; three days ago: 4 delivered."""
    users = iter(users_create(20))
    minutes = datetime.timedelta(minutes=1)

    def add(date, status, **fields):
        return notification_create(user=next(users), date=date, status=status, **fields)

    yesterday = TODAY - datetime.timedelta(days=1)
    for _ in range(3):
        row = add(TODAY, Status.DELIVERED, delivered_at=NOW - 5 * minutes)
        DeliveryAttempt.objects.create(
            notification=row, started_at=NOW - 5 * minutes, duration_ms=10, http_status=200
        )
    add(TODAY, Status.PENDING, send_at=NOW - 10 * minutes)
    add(TODAY, Status.PENDING, send_at=NOW + 60 * minutes, next_attempt_at=NOW + 60 * minutes)
    add(TODAY, Status.FAILED)
    add(TODAY, Status.SENDING, lease_expires_at=NOW - 3 * minutes)
    for _ in range(2):
        row = add(yesterday, Status.DELIVERED, delivered_at=NOW - 120 * minutes)
        DeliveryAttempt.objects.create(
            notification=row, started_at=NOW - 120 * minutes, duration_ms=10, http_status=200
        )
    add(yesterday, Status.EXPIRED)
    for _ in range(4):
        add(TODAY - datetime.timedelta(days=3), Status.DELIVERED)


def test_metrics_parse_and_match_the_database(client, queue):
    with freeze_time(NOW):
        values = scrape(client)

    def rows(day: str, status: str) -> float:
        return values[("notifications_outbox_rows", (("day", day), ("status", status)))]

    assert rows("today", "delivered") == 3
    assert rows("today", "pending") == 2
    assert rows("today", "failed") == 1
    assert rows("today", "sending") == 1
    assert rows("yesterday", "delivered") == 2
    assert rows("yesterday", "expired") == 1
    assert rows("yesterday", "pending") == 0
    for day, date in (("today", TODAY), ("yesterday", TODAY - datetime.timedelta(days=1))):
        for status in Status.values:
            assert (
                rows(day, status)
                == DailyNotification.objects.filter(date=date, status=status).count()
            )
    # Due: the pending row whose send time passed and the row whose sender's lease ran out.
    assert values[("notifications_due_rows", ())] == 2
    assert values[("notifications_oldest_due_age_seconds", ())] == 600.0
    assert values[("notifications_delivered_last_hour", ())] == 3


def test_an_empty_queue_reports_zeros(client):
    values = scrape(client)

    assert values[("notifications_due_rows", ())] == 0
    assert values[("notifications_oldest_due_age_seconds", ())] == 0
    assert values[("notifications_outbox_rows", (("day", "today"), ("status", "pending")))] == 0


def test_a_scrape_costs_a_fixed_number_of_queries(client, queue, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        scrape(client)


def test_every_name_has_the_prefix_and_no_ids_as_labels(client, queue):
    values = scrape(client)

    assert all(name.startswith("notifications_") for name, _ in values)
    labels = {key for _, pairs in values for key, _ in pairs}
    assert labels <= {"day", "status"}


def test_the_oldest_due_age_follows_the_clock(client, queue):
    with freeze_time(NOW + datetime.timedelta(minutes=5)):
        values = scrape(client)

    # The expired lease (due since 3 minutes before NOW) is younger than the send time.
    assert values[("notifications_oldest_due_age_seconds", ())] == 900.0


class TestProduction:
    """``METRICS_REQUIRE_TOKEN`` as production sets it."""

    def test_without_a_token_set_there_are_no_metrics(self, client, settings):
        settings.METRICS_REQUIRE_TOKEN = True
        settings.METRICS_TOKEN = ""

        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404

    @pytest.mark.parametrize("header", [None, f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}"])
    def test_a_missing_or_wrong_token_is_refused(self, client, settings, header):
        settings.METRICS_REQUIRE_TOKEN = True
        settings.METRICS_TOKEN = TOKEN
        headers = {} if header is None else {"HTTP_AUTHORIZATION": header}

        response = client.get("/metrics", **headers)

        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"notifications_" not in response.content

    def test_the_right_token_gets_the_metrics(self, client, settings, queue):
        settings.METRICS_REQUIRE_TOKEN = True
        settings.METRICS_TOKEN = TOKEN

        values = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

        assert ("notifications_due_rows", ()) in values

    def test_production_settings_require_the_token(self):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings.production",
            "DJANGO_SECRET_KEY": "x" * 50,
            "DJANGO_ALLOWED_HOSTS": "localhost",
            "METRICS_TOKEN": TOKEN,
        }
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                "from django.conf import settings; "
                "print(settings.METRICS_REQUIRE_TOKEN, settings.METRICS_TOKEN)",
            ],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )

        assert completed.stdout.split() == ["True", TOKEN]


def test_development_serves_metrics_without_a_token(client, settings):
    assert settings.METRICS_REQUIRE_TOKEN is False

    assert client.get("/metrics").status_code == 200


def test_only_get(client):
    assert client.post("/metrics").status_code == 405


def test_each_scrape_reads_the_database_afresh(client):
    notification_create(send_at=timezone.now() - datetime.timedelta(seconds=5))
    first = scrape(client)[("notifications_due_rows", ())]
    notification_create(send_at=timezone.now() - datetime.timedelta(seconds=5))

    assert (first, scrape(client)[("notifications_due_rows", ())]) == (1, 2)
