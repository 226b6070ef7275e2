"""The model down all day: runs every 15 minutes still give every user their day, on time.

The fake API answers 503 to everything. Generation runs as the schedule runs it
(a fresh generator, the horizon, every 15 minutes) at successive instants over a
day and a half, for users spread from UTC-12 to UTC+14. Every enabled user must end
with exactly one row per local date, offline fallback text, written no later than
its send time and no earlier than ``OPENAI_FALLBACK_MINUTES`` before it.
"""

from __future__ import annotations

import datetime

import pytest

from outbox.generation import notifications_generate
from outbox.generators.breaker import FIRST_FAILURES_LIMIT
from outbox.generators.openai_chat import OpenAIGenerator
from outbox.models import DailyNotification
from outbox.window import window_for, zone_for
from tests.factories import user_create
from tests.fake_openai import MODEL, Reply

UTC = datetime.UTC
ZONES = (
    "Etc/GMT+12",
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/New_York",
    "America/Sao_Paulo",
    "UTC",
    "Europe/Paris",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Adelaide",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
)
SEND_TIMES = (datetime.time(6, 0), datetime.time(8, 0), datetime.time(9, 45))
START = datetime.datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
STEP = datetime.timedelta(minutes=15)
RUNS = 36 * 4  # a day and a half
CONCURRENCY = 2


@pytest.mark.slow
@pytest.mark.django_db
def test_with_the_model_down_all_day_every_user_gets_one_fallback_row_on_time(
    settings, fake_openai
) -> None:
    settings.OPENAI_FALLBACK_MINUTES = 30
    settings.NOTIFICATIONS_GENERATE_AHEAD_HOURS = 3
    fake_openai.respond = lambda request: Reply(status=503, body=b'{"error": {"message": "down"}}')
    users = [
        user_create(user_id=f"{zone}-{at:%H%M}", timezone=zone, send_time=at)
        for zone in ZONES
        for at in SEND_TIMES
    ]
    user_create(user_id="disabled", notifications_enabled=False)
    lefts = []

    for step in range(RUNS):
        now = START + step * STEP
        requests_before = len(fake_openai.requests)
        summary = notifications_generate(
            generator=OpenAIGenerator(
                api_key="sk-test", model=MODEL, base_url=fake_openai.base_url, max_retries=0
            ),
            concurrency=CONCURRENCY,
            now=now,
        )
        lefts.append(summary.left)
        # Each run stops asking once its breaker opens.
        assert len(fake_openai.requests) - requests_before <= FIRST_FAILURES_LIMIT + CONCURRENCY
    end = START + (RUNS - 1) * STEP

    rows = list(DailyNotification.objects.all())
    assert {row.generated_by for row in rows} == {"offline-fallback"}
    assert not any(row.user_id == "disabled" for row in rows)
    fallback = datetime.timedelta(minutes=settings.OPENAI_FALLBACK_MINUTES)
    for row in rows:
        # Never written earlier than the fallback deadline: until then the model is asked.
        assert row.created_at >= row.send_at - fallback, row
        # Never late, except a window already open when the simulation started.
        if row.send_at >= START:
            assert row.created_at <= row.send_at, row
    # Every user has exactly one row for every local date whose send time fell in the span.
    written = {(row.user_id, row.date) for row in rows}
    assert len(written) == len(rows)
    for user in users:
        zone = zone_for(user.timezone)
        for offset in range(-1, 3):
            day = START.date() + datetime.timedelta(days=offset)
            window = window_for(
                day=day,
                send_time=user.send_time,
                deliver_until=settings.NOTIFICATIONS_DELIVER_UNTIL,
                zone=zone,
            )
            if START <= window.send_at <= end:
                assert (user.user_id, day) in written, (user.user_id, day)
    # Users whose send time was not near yet were left for a later run, not written early.
    assert any(lefts)
