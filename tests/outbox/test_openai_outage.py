"""An OpenAI outage stops the model requests quickly, whatever the number of users; nobody
misses a day: users at their fallback deadline get offline text, the others wait for the next run;
a partial outage still falls back user by user."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

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
# The users are in UTC with the default 08:00 send time: at NEAR they are within the
# fallback deadline (30 minutes), at EARLY their send time is hours away.
NEAR = datetime.datetime(2026, 11, 22, 7, 45, tzinfo=datetime.UTC)
EARLY = datetime.datetime(2026, 11, 22, 0, 0, tzinfo=datetime.UTC)
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


def a_later_day() -> str:
    """A local date whose send time is a day away whenever the test runs: not at its deadline."""
    return (timezone.localdate() + datetime.timedelta(days=2)).isoformat()


def test_the_breaker_opens_after_the_limit_in_a_row() -> None:
    breaker = FailureBreaker(limit=3)
    breaker.failed(generator="g", reason="a")
    breaker.failed(generator="g", reason="b")
    assert not breaker.is_open
    breaker.failed(generator="g", reason="c")
    assert breaker.is_open
    assert "3 consecutive failures (last: c)" in breaker.reason


def test_a_success_resets_the_breaker() -> None:
    breaker = FailureBreaker(limit=3)
    for _ in range(5):
        breaker.failed(generator="g", reason="a")
        breaker.failed(generator="g", reason="b")
        breaker.succeeded()
    assert (breaker.is_open, breaker.reason) == (False, None)


def test_the_breaker_opens_when_the_first_users_of_the_run_all_fail() -> None:
    breaker = FailureBreaker(limit=20, first_limit=5)
    for _ in range(4):
        breaker.failed(generator="g", reason="a")
    assert not breaker.is_open
    breaker.failed(generator="g", reason="b")
    assert "5 consecutive failures" in breaker.reason


def test_after_a_success_only_the_limit_in_a_row_opens_the_breaker() -> None:
    breaker = FailureBreaker(limit=20, first_limit=5)
    breaker.succeeded()
    for _ in range(19):
        breaker.failed(generator="g", reason="a")
    breaker.batch_failed(generator="g")
    assert not breaker.is_open
    breaker.failed(generator="g", reason="a")
    assert "20 consecutive failures" in breaker.reason


def test_a_batch_that_all_failed_opens_the_breaker_before_any_success() -> None:
    breaker = FailureBreaker(limit=20, first_limit=5)
    breaker.failed(generator="g", reason="a")
    breaker.failed(generator="g", reason="timed out")
    breaker.batch_failed(generator="g")
    assert breaker.reason == (
        "g: 2 consecutive failures (last: timed out): the model API looks down"
    )


@pytest.mark.django_db
def test_a_full_outage_stops_asking_and_the_command_says_in_one_line_who_is_left(
    openai_settings, fake_openai
) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    fake_openai.respond = lambda request: SERVER_ERROR
    users_create(100)
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "runpipeline",
            "generate",
            "--date",
            a_later_day(),
            "--generator",
            "openai",
            "--concurrency",
            "4",
            stdout=out,
        )
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        f"model unavailable (openai:{MODEL}: {FIRST_FAILURES_LIMIT} consecutive"
    )
    assert "InternalServerError" in message
    assert message.endswith("the model API looks down): 100 users left for the next run")
    # The summary came first, on stdout.
    assert "created 0, existing 0, fallback 0, disabled 0, closed 0, left 100" in out.getvalue()
    # The first users' failures plus what else was in flight, not 100 users.
    assert len(fake_openai.requests) <= FIRST_FAILURES_LIMIT + 4
    # Nobody is at their deadline: no permanent fallback rows.
    assert DailyNotification.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("users", [10, 3, 1])
def test_an_outage_on_a_small_base_writes_no_fallback_and_leaves_the_users_for_the_next_run(
    openai_settings, fake_openai, users
) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    fake_openai.respond = lambda request: SERVER_ERROR
    users_create(users)
    day = a_later_day()
    with pytest.raises(CommandError) as raised:
        call_command(
            "runpipeline",
            "generate",
            "--date",
            day,
            "--generator",
            "openai",
            "--concurrency",
            "2",
            stdout=io.StringIO(),
        )
    message = str(raised.value)
    assert "\n" not in message
    assert "consecutive failures (last: InternalServerError" in message
    assert message.endswith("left for the next run")
    assert DailyNotification.objects.count() == 0

    fake_openai.respond = lambda request: Reply()
    call_command(
        "runpipeline", "generate", "--date", day, "--generator", "openai", stdout=io.StringIO()
    )
    assert DailyNotification.objects.filter(generated_by=f"openai:{MODEL}").count() == users


@pytest.mark.django_db
def test_in_an_outage_the_users_at_their_deadline_get_offline_text_at_once(fake_openai) -> None:
    near = users_create(10)  # UTC, 08:00: within 30 minutes at NEAR
    later = users_create(10, timezone="America/Lima")  # 08:00 there is 13:00 UTC
    fake_openai.respond = lambda request: SERVER_ERROR

    summary = notifications_generate(
        date=DATE,
        now=NEAR,
        generator=openai_generator(fake_openai, max_retries=0),
        concurrency=2,
    )

    assert (summary.created, summary.fallback, summary.left) == (10, 10, 10)
    assert "consecutive failures" in summary.outage
    assert set(DailyNotification.objects.values_list("user_id", flat=True)) == {
        user.pk for user in near
    }
    assert set(DailyNotification.objects.values_list("generated_by", flat=True)) == {
        "offline-fallback"
    }
    assert not DailyNotification.objects.filter(user__in=later).exists()
    # Once the breaker opened, nobody else was asked about.
    assert len(fake_openai.requests) <= FIRST_FAILURES_LIMIT + 2


@pytest.mark.django_db
def test_after_a_success_in_the_run_a_failing_chunk_still_falls_back(fake_openai) -> None:
    users_create(6)
    fake_openai.respond = lambda request: (
        Reply() if len(fake_openai.requests) <= 3 else SERVER_ERROR
    )
    summary = notifications_generate(
        date=DATE,
        now=NEAR,
        generator=openai_generator(fake_openai, max_retries=0),
        concurrency=1,
        chunk_size=3,
    )
    assert (summary.created, summary.fallback, summary.left) == (6, 3, 0)


@pytest.mark.django_db
def test_what_the_model_wrote_stays_and_a_later_run_asks_again_for_the_rest(fake_openai) -> None:
    users_create(40)
    fake_openai.respond = lambda request: (
        Reply() if len(fake_openai.requests) <= 25 else SERVER_ERROR
    )
    summary = notifications_generate(
        date=DATE,
        now=EARLY,
        generator=openai_generator(fake_openai, max_retries=0, failure_limit=5),
        concurrency=1,
        chunk_size=10,
    )
    # 25 answers went in; the 5 failures that opened the breaker and the 10 after it wait.
    assert (summary.created, summary.fallback, summary.left) == (25, 0, 15)
    assert len(fake_openai.requests) == 30
    assert DailyNotification.objects.count() == 25

    fake_openai.respond = lambda request: Reply()
    summary = notifications_generate(
        date=DATE, now=EARLY, generator=openai_generator(fake_openai, max_retries=0), concurrency=4
    )
    assert (summary.created, summary.existing, summary.fallback, summary.left) == (15, 25, 0, 0)
    assert not DailyNotification.objects.exclude(generated_by=f"openai:{MODEL}").exists()


@pytest.mark.django_db
def test_a_partial_outage_falls_back_per_user_and_goes_on(fake_openai) -> None:
    users_create(100)
    # Every third request fails: many failures, never the limit in a row.
    fake_openai.respond = lambda request: (
        SERVER_ERROR if len(fake_openai.requests) % 3 == 0 else Reply()
    )
    summary = notifications_generate(
        date=DATE, now=NEAR, generator=openai_generator(fake_openai, max_retries=0), concurrency=4
    )
    assert summary.created == 100
    assert 20 <= summary.fallback <= 45
    assert DailyNotification.objects.filter(generated_by="offline-fallback").count() == (
        summary.fallback
    )


@pytest.mark.django_db
def test_a_partial_outage_far_from_the_deadline_leaves_the_failed_users(fake_openai) -> None:
    users_create(30)
    fake_openai.respond = lambda request: (
        SERVER_ERROR if len(fake_openai.requests) % 3 == 0 else Reply()
    )
    summary = notifications_generate(
        date=DATE, now=EARLY, generator=openai_generator(fake_openai, max_retries=0), concurrency=1
    )
    assert (summary.created, summary.fallback, summary.left) == (20, 0, 10)
    assert summary.outage == "the model could not serve them"


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
        call_command(
            "runpipeline",
            "generate",
            "--date",
            a_later_day(),
            "--generator",
            "openai",
            "--concurrency",
            "1",
            stdout=io.StringIO(),
        )
    assert "\n" not in str(raised.value)
    assert str(raised.value).endswith("10 users left for the next run")
    assert len(fake_openai.requests) == 1
    assert DailyNotification.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "refusal",
    [Reply(status=401, body=b"{}"), Reply(status=404, body=b"{}"), NO_QUOTA],
    ids=["key", "model", "quota"],
)
def test_a_refused_run_still_gives_the_users_at_their_deadline_their_day(
    fake_openai, refusal
) -> None:
    near = users_create(5)
    users_create(5, timezone="America/Lima")
    fake_openai.respond = lambda request: refusal

    summary = notifications_generate(
        date=DATE,
        now=NEAR,
        generator=openai_generator(fake_openai, max_retries=0),
        concurrency=1,
        chunk_size=2,
    )

    assert (summary.created, summary.fallback, summary.left) == (5, 5, 5)
    assert "check OPENAI_API_KEY" in summary.outage or "quota" in summary.outage
    assert set(DailyNotification.objects.values_list("user_id", flat=True)) == {u.pk for u in near}
    # Refused once: nobody else was asked about.
    assert len(fake_openai.requests) == 1
