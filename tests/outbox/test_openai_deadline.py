"""Every model request has a hard deadline on the whole exchange, not only on each read.

A server that answers ``200`` and then trickles its body a byte at a time never trips
a per-read timeout; the generator must still give up at the deadline and take the
normal failure path: the client's retry, then fallback or the breaker.
"""

from __future__ import annotations

import datetime
import time

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from outbox.generators import generator_for
from outbox.models import DailyNotification
from tests.factories import user_build, users_create
from tests.fake_openai import (
    FakeOpenAI,
    Reply,
    completion_json,
    event_stream,
    notification_json,
)
from tests.outbox.generator_contract import DATE

pytestmark = pytest.mark.slow

DEADLINE = 1.0
# Well under the per-read timeout (the deadline), so only a deadline on the whole
# exchange ends the wait.
BYTE_EVERY = 0.2
# Scheduling slack on a shared two-core machine.
MARGIN = 1.5

TRICKLES = {
    "json": Reply(body=completion_json(notification_json()), trickle=BYTE_EVERY),
    "sse": Reply(
        body=event_stream(notification_json()),
        content_type="text/event-stream",
        trickle=BYTE_EVERY,
    ),
}


@pytest.mark.parametrize("kind", sorted(TRICKLES))
def test_a_trickling_answer_is_abandoned_at_the_deadline_retried_then_falls_back(
    openai_settings, fake_openai, kind
) -> None:
    openai_settings.OPENAI_TIMEOUT_SECONDS = DEADLINE
    openai_settings.OPENAI_MAX_RETRIES = 1
    fake_openai.respond = lambda request: TRICKLES[kind]
    started = time.monotonic()
    text = generator_for("openai").write(user=user_build(), category="tip", date=DATE)
    elapsed = time.monotonic() - started
    assert text.generated_by == "offline-fallback"
    assert len(fake_openai.requests) == 2  # the client's retry after the first deadline
    # Two deadlines and the client's backoff before its retry (at most 0.5 s).
    assert elapsed < 2 * DEADLINE + 0.5 + MARGIN
    assert_abandoned(fake_openai)


def assert_abandoned(fake: FakeOpenAI) -> None:
    """The connections were closed, not left reading in the background: the trickles stop."""
    give_up = time.monotonic() + 5 * BYTE_EVERY
    while fake.in_flight and time.monotonic() < give_up:
        time.sleep(BYTE_EVERY / 4)
    assert fake.in_flight == 0


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(TRICKLES))
def test_a_run_against_a_trickling_model_ends_at_the_deadline_with_the_users_left(
    openai_settings, fake_openai, kind
) -> None:
    openai_settings.OPENAI_TIMEOUT_SECONDS = DEADLINE
    openai_settings.OPENAI_MAX_RETRIES = 0
    # One ordinary answer first: the client's first use (imports, TLS defaults) is not timed.
    generator_for("openai").write(user=user_build(), category="tip", date=DATE)
    fake_openai.respond = lambda request: TRICKLES[kind]
    users_create(3)
    started = time.monotonic()
    # Tomorrow's rows: their send time is hours away, so the users wait for the next run.
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    with pytest.raises(CommandError) as raised:
        call_command(
            "runpipeline",
            "generate",
            "--generator",
            "openai",
            "--concurrency",
            "3",
            "--date",
            tomorrow,
        )
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + MARGIN
    assert "consecutive failures (last: APITimeoutError" in str(raised.value)
    # The breaker's path: nobody got permanent fallback text, the next run asks again.
    assert DailyNotification.objects.count() == 0
    assert_abandoned(fake_openai)


def test_a_slow_answer_that_ends_before_the_deadline_is_kept(openai_settings, fake_openai) -> None:
    openai_settings.OPENAI_TIMEOUT_SECONDS = 3.0
    openai_settings.OPENAI_MAX_RETRIES = 0
    fake_openai.respond = lambda request: Reply(trickle=0.001)
    text = generator_for("openai").write(user=user_build(), category="tip", date=DATE)
    assert text.generated_by == "openai:test-model"
    assert len(fake_openai.requests) == 1
