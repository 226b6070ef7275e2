"""`runpipeline generate`: options, the horizon or a date, summary line, one-line errors, concurrent runs."""

from __future__ import annotations

import datetime
import gc
import io
import re
from functools import partial

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from freezegun import freeze_time

from outbox.generation import notifications_generate
from outbox.models import DailyNotification
from pipeline import stages
from tests.factories import users_create
from tests.fake_openai import Reply

SUMMARY = re.compile(
    r"^(?:(?P<date>\d{4}-\d{2}-\d{2}) )?(?P<generator>\S+): created (?P<created>\d+), "
    r"existing (?P<existing>\d+), fallback (?P<fallback>\d+), disabled (?P<disabled>\d+)"
    r"(?:, closed (?P<closed>\d+))?(?:, left (?P<left>\d+))?"
    r"(?:, tokens [\d,]+ in / [\d,]+ out)? in \d+\.\ds$"
)
# The users are in UTC with the default 08:00 send time: open, and within the horizon.
MORNING = "2026-11-22 07:00:00"


def generate(*args: str) -> re.Match:
    out = io.StringIO()
    call_command("runpipeline", "generate", *args, stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    match = SUMMARY.match(lines[0])
    assert match, lines[0]
    return match


def a_later_day() -> str:
    """A local date whose window is open (and far from its deadline) whenever the test runs."""
    return (timezone.localdate() + datetime.timedelta(days=2)).isoformat()


@pytest.mark.django_db
@freeze_time(MORNING)
def test_prints_the_summary_line() -> None:
    users_create(3)
    users_create(1, notifications_enabled=False)
    summary = generate("--date", "2026-11-22", "--generator", "offline")
    assert summary.groupdict() == {
        "date": "2026-11-22",
        "generator": "offline",
        "created": "3",
        "existing": "0",
        "fallback": "0",
        "disabled": "1",
        "closed": "0",
        "left": None,
    }


@pytest.mark.django_db
@freeze_time(MORNING)
def test_a_second_run_reports_existing_rows() -> None:
    users_create(3)
    generate("--date", "2026-11-22", "--generator", "offline")
    summary = generate("--date", "2026-11-22", "--generator", "offline")
    assert (summary["created"], summary["existing"]) == ("0", "3")


@pytest.mark.django_db
@freeze_time("2026-11-22 22:00:00")
def test_a_date_whose_window_closed_is_counted_closed_not_written() -> None:
    users_create(2)  # UTC: closed at 21:00
    users_create(1, timezone="America/Lima")  # 17:00 there: still open
    summary = generate("--date", "2026-11-22", "--generator", "offline")
    assert (summary["created"], summary["closed"]) == ("1", "2")


@pytest.mark.django_db
@freeze_time(MORNING)
def test_limit_bounds_the_users_considered() -> None:
    users_create(5)
    summary = generate("--date", "2026-11-22", "--generator", "offline", "--limit", "2")
    assert summary["created"] == "2"
    assert DailyNotification.objects.count() == 2


@pytest.mark.django_db
def test_without_a_date_the_horizon_is_read_from_the_clock(settings) -> None:
    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14: already the 23rd there
    users_create(1)
    users_create(
        1, timezone="UTC"
    )  # 23:30 there: the 22nd's window closed, the 23rd's is 8.5 h off
    with freeze_time("2026-11-22 23:30:00"):
        summary = generate("--generator", "offline")
    assert (summary["date"], summary["closed"]) == (None, None)
    assert list(DailyNotification.objects.values_list("date", flat=True)) == [
        datetime.date(2026, 11, 23)
    ]


@pytest.mark.django_db
def test_default_generator_is_offline_without_a_key(settings) -> None:
    settings.OPENAI_API_KEY = ""
    assert generate("--date", a_later_day())["generator"] == "offline"


@pytest.mark.django_db
def test_default_generator_is_openai_with_a_key(openai_settings, fake_openai) -> None:
    users_create(2)
    summary = generate("--date", a_later_day(), "--concurrency", "2")
    assert (summary["generator"], summary["created"]) == ("openai:test-model", "2")
    assert len(fake_openai.requests) == 2


@pytest.mark.django_db
def test_fallbacks_show_in_the_summary(openai_settings, fake_openai) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    # Every user is at their fallback deadline: a user the model failed gets offline text.
    openai_settings.OPENAI_FALLBACK_MINUTES = 7 * 24 * 60
    fake_openai.respond = lambda request: (
        Reply() if len(fake_openai.requests) == 1 else Reply(status=503, body=b"{}")
    )
    users_create(2)
    summary = generate("--date", a_later_day(), "--generator", "openai")
    assert (summary["created"], summary["fallback"]) == ("2", "1")


@pytest.mark.django_db
def test_a_user_left_for_the_next_run_exits_1_after_the_summary(
    openai_settings, fake_openai
) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    fake_openai.respond = lambda request: (
        Reply() if len(fake_openai.requests) == 1 else Reply(status=503, body=b"{}")
    )
    users_create(2)
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("runpipeline", "generate", "--date", a_later_day(), stdout=out)
    summary = SUMMARY.match(out.getvalue().strip())
    assert (summary["created"], summary["fallback"], summary["left"]) == ("1", "0", "1")
    assert str(error.value) == (
        "model unavailable (the model could not serve them): 1 user left for the next run"
    )


@pytest.mark.django_db
def test_a_rejected_key_is_a_one_line_error(openai_settings, fake_openai) -> None:
    fake_openai.respond = lambda request: Reply(status=401, body=b"{}")
    users_create(1)
    with pytest.raises(CommandError, match="check OPENAI_API_KEY") as error:
        call_command(
            "runpipeline",
            "generate",
            "--date",
            a_later_day(),
            "--generator",
            "openai",
            stdout=io.StringIO(),
        )
    assert "\n" not in str(error.value)
    assert str(error.value).endswith("1 user left for the next run")


@pytest.mark.parametrize("date", ["2026-13-01", "yesterday", "22/11/2026"])
def test_invalid_date_is_a_one_line_error(date: str) -> None:
    with pytest.raises(CommandError, match="--date must be a date as YYYY-MM-DD") as error:
        call_command("runpipeline", "generate", "--date", date)
    assert "\n" not in str(error.value)


def test_unknown_generator_is_a_one_line_error() -> None:
    with pytest.raises(CommandError, match="unknown generator 'gpt5'") as error:
        call_command("runpipeline", "generate", "--generator", "gpt5")
    assert "\n" not in str(error.value)


def test_openai_without_a_key_is_a_one_line_error(settings) -> None:
    settings.OPENAI_API_KEY = ""
    with pytest.raises(CommandError, match="needs OPENAI_API_KEY"):
        call_command("runpipeline", "generate", "--generator", "openai")


@pytest.mark.slow
def test_the_command_runs_as_a_process(manage_py) -> None:
    users_create(3)
    day = a_later_day()
    process = manage_py("runpipeline", "generate", "--date", day, "--generator", "offline")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert SUMMARY.match(stdout.strip())
    assert DailyNotification.objects.filter(date=day).count() == 3


@pytest.mark.slow
def test_an_unknown_generator_exits_1_with_one_line(manage_py) -> None:
    process = manage_py("runpipeline", "generate", "--generator", "gpt5")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert (
        stderr.strip()
        == "CommandError: unknown generator 'gpt5': choose one of openai, openai-batch, offline"
    )


@pytest.mark.slow
@pytest.mark.postgres_only
def test_two_runs_at_once_leave_one_row_per_user(manage_py) -> None:
    users = users_create(3000)
    day = a_later_day()
    runs = [
        manage_py("runpipeline", "generate", "--date", day, "--generator", "offline")
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    assert DailyNotification.objects.filter(date=day).count() == len(users)
    assert DailyNotification.objects.values("user").distinct().count() == len(users)
    summaries = [SUMMARY.match(out.strip()) for out, _ in outputs]
    # Counting is honest: together the runs created each row once.
    assert sum(int(s["created"]) for s in summaries) == len(users)
    assert all(int(s["created"]) + int(s["existing"]) == len(users) for s in summaries)


@pytest.fixture
def chunks_of_two(monkeypatch):
    """The command's generation in chunks of 2 users, so a bound can stop it between chunks."""
    monkeypatch.setattr(
        stages, "notifications_generate", partial(notifications_generate, chunk_size=2)
    )


@pytest.mark.django_db
@freeze_time(MORNING, tick=True)  # ticking: the bound is measured on the clock
def test_max_seconds_stops_the_run_and_says_so(chunks_of_two) -> None:
    users_create(5)
    out = io.StringIO()
    call_command(
        "runpipeline", "generate", "--generator", "offline", "--max-seconds", "0.000001", stdout=out
    )
    line = out.getvalue().strip()
    assert line.endswith("; stopped at the time limit, users remain")
    assert SUMMARY.match(line.removesuffix("; stopped at the time limit, users remain"))
    assert DailyNotification.objects.count() == 2


@pytest.mark.django_db
@freeze_time(MORNING)
def test_max_seconds_not_reached_prints_the_usual_line(chunks_of_two) -> None:
    users_create(5)
    summary = generate("--generator", "offline", "--max-seconds", "60")
    assert summary["created"] == "5"


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_max_seconds_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(CommandError, match="--max-seconds"):
        call_command("runpipeline", "generate", "--max-seconds", value)


@pytest.fixture
def unfrozen():
    """The collector as the test runner had it, whatever the command froze."""
    yield
    gc.unfreeze()


@pytest.mark.django_db
def test_generate_keeps_the_startup_objects_out_of_full_collections(unfrozen) -> None:
    gc.unfreeze()
    users_create(2)
    generate("--date", a_later_day())
    assert gc.get_freeze_count() > 0
