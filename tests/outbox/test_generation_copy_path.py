"""Generation's COPY path on PostgreSQL writes exactly the rows and counts of the executemany path."""

from __future__ import annotations

import datetime

import pytest
from freezegun import freeze_time

from accounts.models import User
from outbox.generation import notifications_generate
from outbox.generators import OfflineGenerator
from outbox.models import DailyNotification
from tests.factories import notification_create, users_create

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]

DATE = datetime.date(2026, 11, 22)
# The users are in UTC with the default 08:00 send time: at NOW their window is open.
NOW = datetime.datetime(2026, 11, 22, 7, 45, tzinfo=datetime.UTC)
COMPARED = (
    "user_id",
    "date",
    "category",
    "title",
    "body",
    "generated_by",
    "status",
    "attempts",
    "next_attempt_at",
    "lease_expires_at",
    "last_error",
    "delivered_at",
    "send_at",
    "expires_at",
    "prompt_tokens",
    "completion_tokens",
    "created_at",
    "updated_at",
)


def run_both_ways(monkeypatch, *, existing: list[User]) -> list[tuple]:
    """Generate ``DATE`` once per path (rows of ``existing`` users present beforehand)."""
    results = []
    for vendors in (frozenset({"postgresql"}), frozenset()):
        monkeypatch.setattr("core.db.COPY_VENDORS", vendors)
        DailyNotification.objects.all().delete()
        # The clock stopped: the rows written beforehand are stamped alike both times.
        with freeze_time(NOW):
            for user in existing:
                notification_create(user=user, date=DATE, generated_by="earlier")
        summary = notifications_generate(
            date=DATE, now=NOW, generator=OfflineGenerator(), concurrency=1, chunk_size=300
        )
        rows = list(DailyNotification.objects.order_by("user_id").values_list(*COMPARED))
        results.append(((summary.created, summary.existing, summary.fallback), rows))
    return results


def test_the_same_rows_and_counts_both_ways(monkeypatch) -> None:
    users = users_create(1000)
    copied, executed = run_both_ways(monkeypatch, existing=users[::7])
    assert copied == executed
    assert copied[0] == (1000 - len(users[::7]), len(users[::7]), 0)


def test_the_copy_path_leaves_ids_unique_and_timestamps_set(monkeypatch) -> None:
    users_create(50)
    monkeypatch.setattr("core.db.COPY_VENDORS", frozenset({"postgresql"}))
    notifications_generate(date=DATE, now=NOW, generator=OfflineGenerator(), concurrency=1)
    rows = DailyNotification.objects.values_list("id", "created_at", "updated_at", "send_at")
    assert len({row[0] for row in rows}) == 50
    assert all(created and updated and send_at for _, created, updated, send_at in rows)


@pytest.mark.slow
def test_a_hundred_thousand_users_the_same_both_ways(monkeypatch) -> None:
    User.objects.bulk_create(
        [
            User(
                user_id=f"{number:06d}",
                name=f"User {number}",
                email=f"user{number}@example.com",
                signup_date=datetime.date(2021, 1, 1),
                age=20 + number % 60,
                height_cm=150 + number % 50,
                weight_kg=50 + number % 70,
                activity_level=("Low", "Moderate", "High")[number % 3],
                health_goals=("Weight Loss", "Heart Health", "Muscle Gain")[number % 3],
                rotation_slot=number % 3,
            )
            for number in range(100_000)
        ],
        batch_size=5000,
    )
    existing = list(User.objects.order_by("pk")[::1000])
    copied, executed = run_both_ways(monkeypatch, existing=existing)
    assert copied == executed
    assert copied[0] == (100_000 - len(existing), len(existing), 0)


class RacingGenerator(OfflineGenerator):
    """Another run writes ``rivals`` their rows while this one is writing the chunk."""

    def __init__(self, *, rivals: list[User]) -> None:
        super().__init__()
        self.rivals = rivals

    def write_many(self, *, requests, concurrency=1):
        # The clock stopped: the rivals' rows are stamped alike on both paths.
        with freeze_time(NOW):
            for rival in self.rivals:
                notification_create(user=rival, date=DATE, generated_by="rival")
        self.rivals = []
        yield from super().write_many(requests=requests, concurrency=concurrency)


def test_rows_another_run_wrote_meanwhile_are_skipped_and_counted_as_existing(monkeypatch) -> None:
    users = users_create(30)
    results = []
    for vendors in (frozenset({"postgresql"}), frozenset()):
        monkeypatch.setattr("core.db.COPY_VENDORS", vendors)
        DailyNotification.objects.all().delete()
        summary = notifications_generate(
            date=DATE, now=NOW, generator=RacingGenerator(rivals=users[5:8]), concurrency=1
        )
        rows = list(DailyNotification.objects.order_by("user_id").values_list(*COMPARED))
        results.append(((summary.created, summary.existing), rows))
    assert results[0] == results[1]
    assert results[0][0] == (27, 3)
    assert DailyNotification.objects.filter(generated_by="rival").count() == 3
