"""An OpenAI outage stops the run quickly, whatever the number of users; a partial one still
falls back user by user."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import CommandError, call_command

from outbox.generation import notifications_generate
from outbox.generators import GeneratorUnavailable, generator_for
from outbox.generators.breaker import (
    FIRST_FAILURES_LIMIT,
    FailureBreaker,
)
from outbox.generators.openai_chat import OpenAIGenerator
from outbox.models import DailyNotification
from tests.factories import user_build, users_create
from tests.fake_openai import MODEL, FakeOpenAI, Reply

DATE = datetime.date(2026, 11, 22)
SERVER_ERROR = Reply(status=500, body=b'{"error": {"message": "boom"}}')
NO_QUOTA = Reply(
    status=429,
    body=(
        b'{"error": {"message": "You exceeded your current quota", '
        b'"type": "insufficient_quota", "code": "insufficient_quota"}}'
    ),
)


def openai_generator(fake: FakeOpenAI, **options) -> OpenAIGenerator:
    return OpenAIGenerator(
        api_key="sk-test", model=MODEL, base_url=fake.base_url, timeout=2.0, **options
    )


def test_the_breaker_opens_after_the_limit_in_a_row() -> None:
    breaker = FailureBreaker(limit=3)
    breaker.failed(generator="g", reason="a")
    breaker.failed(generator="g", reason="b")
    with pytest.raises(GeneratorUnavailable, match="3 consecutive failures"):
        breaker.failed(generator="g", reason="c")
    with pytest.raises(GeneratorUnavailable):
        breaker.check()


def test_a_success_resets_the_breaker() -> None:
    breaker = FailureBreaker(limit=3)
    for _ in range(5):
        breaker.failed(generator="g", reason="a")
        breaker.failed(generator="g", reason="b")
        breaker.succeeded()
    breaker.check()


def test_the_breaker_opens_when_the_first_users_of_the_run_all_fail() -> None:
    breaker = FailureBreaker(limit=20, first_limit=5)
    for _ in range(4):
        breaker.failed(generator="g", reason="a")
    with pytest.raises(GeneratorUnavailable, match="5 consecutive failures"):
        breaker.failed(generator="g", reason="b")


def test_after_a_success_only_the_limit_in_a_row_opens_the_breaker() -> None:
    breaker = FailureBreaker(limit=20, first_limit=5)
    breaker.succeeded()
    for _ in range(19):
        breaker.failed(generator="g", reason="a")
    breaker.batch_failed(generator="g")
    with pytest.raises(GeneratorUnavailable, match="20 consecutive failures"):
        breaker.failed(generator="g", reason="a")


def test_a_batch_that_all_failed_opens_the_breaker_before_any_success() -> None:
    breaker = FailureBreaker(limit=20, first_limit=5)
    breaker.failed(generator="g", reason="a")
    breaker.failed(generator="g", reason="timed out")
    with pytest.raises(GeneratorUnavailable, match=r"2 consecutive failures \(last: timed out\)"):
        breaker.batch_failed(generator="g")


@pytest.mark.django_db
def test_a_full_outage_stops_the_command_in_one_line_after_few_requests(
    openai_settings, fake_openai
) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    fake_openai.respond = lambda request: SERVER_ERROR
    users_create(100)
    with pytest.raises(CommandError) as raised:
        call_command("runpipeline", "generate", "--generator", "openai", "--concurrency", "4")
    message = str(raised.value)
    assert "\n" not in message
    assert f"{FIRST_FAILURES_LIMIT} consecutive failures" in message
    assert "InternalServerError" in message
    assert message.endswith("the model API looks down; re-run later")
    # The first users' failures plus what else was in flight, not 100 users.
    assert len(fake_openai.requests) <= FIRST_FAILURES_LIMIT + 4
    # The chunk in progress is not written: no permanent fallback rows.
    assert DailyNotification.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("users", [10, 3, 1])
def test_an_outage_on_a_small_base_writes_no_fallback_and_leaves_the_users_for_the_next_run(
    openai_settings, fake_openai, users
) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    fake_openai.respond = lambda request: SERVER_ERROR
    users_create(users)
    with pytest.raises(CommandError) as raised:
        call_command("runpipeline", "generate", "--generator", "openai", "--concurrency", "2")
    message = str(raised.value)
    assert "\n" not in message
    assert "consecutive failures (last: InternalServerError" in message
    assert message.endswith("the model API looks down; re-run later")
    assert DailyNotification.objects.count() == 0

    fake_openai.respond = lambda request: Reply()
    call_command("runpipeline", "generate", "--generator", "openai", stdout=io.StringIO())
    assert DailyNotification.objects.filter(generated_by=f"openai:{MODEL}").count() == users


@pytest.mark.django_db
def test_after_a_success_in_the_run_a_failing_chunk_still_falls_back(fake_openai) -> None:
    users_create(6)
    fake_openai.respond = lambda request: (
        Reply() if len(fake_openai.requests) <= 3 else SERVER_ERROR
    )
    summary = notifications_generate(
        date=DATE,
        generator=openai_generator(fake_openai, max_retries=0),
        concurrency=1,
        chunk_size=3,
    )
    assert (summary.created, summary.fallback) == (6, 3)


@pytest.mark.django_db
def test_completed_chunks_stay_and_a_later_run_asks_again_for_the_rest(fake_openai) -> None:
    users_create(40)
    fake_openai.respond = lambda request: (
        Reply() if len(fake_openai.requests) <= 25 else SERVER_ERROR
    )
    with pytest.raises(GeneratorUnavailable):
        notifications_generate(
            date=DATE,
            generator=openai_generator(fake_openai, max_retries=0, failure_limit=5),
            concurrency=1,
            chunk_size=10,
        )
    # Chunks 1 and 2 went in; chunk 3 (5 answers, then 5 failures) did not.
    assert DailyNotification.objects.count() == 20

    fake_openai.respond = lambda request: Reply()
    summary = notifications_generate(
        date=DATE, generator=openai_generator(fake_openai, max_retries=0), concurrency=4
    )
    assert (summary.created, summary.existing, summary.fallback) == (20, 20, 0)
    assert not DailyNotification.objects.exclude(generated_by=f"openai:{MODEL}").exists()


@pytest.mark.django_db
def test_a_partial_outage_falls_back_per_user_and_goes_on(fake_openai) -> None:
    users_create(100)
    # Every third request fails: many failures, never the limit in a row.
    fake_openai.respond = lambda request: (
        SERVER_ERROR if len(fake_openai.requests) % 3 == 0 else Reply()
    )
    summary = notifications_generate(
        date=DATE, generator=openai_generator(fake_openai, max_retries=0), concurrency=4
    )
    assert summary.created == 100
    assert 20 <= summary.fallback <= 45
    assert DailyNotification.objects.filter(generated_by="offline-fallback").count() == (
        summary.fallback
    )


def test_an_exhausted_quota_is_unavailable_at_once(openai_settings, fake_openai) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    fake_openai.respond = lambda request: NO_QUOTA
    with pytest.raises(GeneratorUnavailable, match="insufficient_quota"):
        generator_for("openai").write(user=user_build(), category="tip", date=DATE)
    assert len(fake_openai.requests) == 1


def test_a_plain_rate_limit_still_falls_back(openai_settings, fake_openai) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    fake_openai.respond = lambda request: Reply(
        status=429, body=b'{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}'
    )
    text = generator_for("openai").write(user=user_build(), category="tip", date=DATE)
    assert text.generated_by == "offline-fallback"


@pytest.mark.django_db
def test_an_exhausted_quota_stops_the_command_in_one_line(openai_settings, fake_openai) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    fake_openai.respond = lambda request: NO_QUOTA
    users_create(10)
    with pytest.raises(CommandError, match="out of quota") as raised:
        call_command("runpipeline", "generate", "--generator", "openai", "--concurrency", "1")
    assert "\n" not in str(raised.value)
    assert len(fake_openai.requests) == 1
    assert DailyNotification.objects.count() == 0
