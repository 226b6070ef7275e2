"""`runpipeline generate`: options, default date, summary line, one-line errors, concurrent runs."""

from __future__ import annotations

import datetime
import io
import re
from functools import partial

import pytest
from django.core.management import CommandError, call_command
from freezegun import freeze_time

from outbox.generation import notifications_generate
from outbox.models import DailyNotification
from pipeline import stages
from tests.factories import users_create
from tests.fake_openai import Reply

SUMMARY = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<generator>\S+): created (?P<created>\d+), "
    r"existing (?P<existing>\d+), fallback (?P<fallback>\d+)"
    r"(?:, tokens [\d,]+ in / [\d,]+ out)? in \d+\.\ds$"
)


def generate(*args: str) -> re.Match:
    out = io.StringIO()
    call_command("runpipeline", "generate", *args, stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    match = SUMMARY.match(lines[0])
    assert match, lines[0]
    return match


@pytest.mark.django_db
def test_prints_the_summary_line() -> None:
    users_create(3)
    summary = generate("--date", "2026-11-22", "--generator", "offline")
    assert summary.groupdict() == {
        "date": "2026-11-22",
        "generator": "offline",
        "created": "3",
        "existing": "0",
        "fallback": "0",
    }


@pytest.mark.django_db
def test_a_second_run_reports_existing_rows() -> None:
    users_create(3)
    generate("--date", "2026-11-22", "--generator", "offline")
    summary = generate("--date", "2026-11-22", "--generator", "offline")
    assert (summary["created"], summary["existing"]) == ("0", "3")


@pytest.mark.django_db
def test_limit_bounds_the_users_considered() -> None:
    users_create(5)
    summary = generate("--date", "2026-11-22", "--generator", "offline", "--limit", "2")
    assert summary["created"] == "2"
    assert DailyNotification.objects.count() == 2


@pytest.mark.django_db
def test_default_date_is_today_in_the_time_zone(settings) -> None:
    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14: already the 23rd there
    users_create(1)
    with freeze_time("2026-11-22 23:30:00"):
        summary = generate("--generator", "offline")
    assert summary["date"] == "2026-11-23"
    assert DailyNotification.objects.get().date == datetime.date(2026, 11, 23)


@pytest.mark.django_db
def test_default_generator_is_offline_without_a_key(settings) -> None:
    settings.OPENAI_API_KEY = ""
    assert generate("--date", "2026-11-22")["generator"] == "offline"


@pytest.mark.django_db
def test_default_generator_is_openai_with_a_key(openai_settings, fake_openai) -> None:
    users_create(2)
    summary = generate("--date", "2026-11-22", "--concurrency", "2")
    assert (summary["generator"], summary["created"]) == ("openai:test-model", "2")
    assert len(fake_openai.requests) == 2


@pytest.mark.django_db
def test_fallbacks_show_in_the_summary(openai_settings, fake_openai) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    # One user served, so the model is up: the other falls back rather than stop the run.
    fake_openai.respond = lambda request: (
        Reply() if len(fake_openai.requests) == 1 else Reply(status=503, body=b"{}")
    )
    users_create(2)
    summary = generate("--date", "2026-11-22", "--generator", "openai")
    assert (summary["created"], summary["fallback"]) == ("2", "1")


@pytest.mark.django_db
def test_a_rejected_key_is_a_one_line_error(openai_settings, fake_openai) -> None:
    fake_openai.respond = lambda request: Reply(status=401, body=b"{}")
    users_create(1)
    with pytest.raises(CommandError, match="check OPENAI_API_KEY") as error:
        call_command("runpipeline", "generate", "--generator", "openai", stdout=io.StringIO())
    assert "\n" not in str(error.value)


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
    process = manage_py("runpipeline", "generate", "--date", "2026-11-22", "--generator", "offline")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert SUMMARY.match(stdout.strip())
    assert DailyNotification.objects.filter(date="2026-11-22").count() == 3


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
    runs = [
        manage_py("runpipeline", "generate", "--date", "2026-11-22", "--generator", "offline")
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    assert DailyNotification.objects.filter(date="2026-11-22").count() == len(users)
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
def test_max_seconds_not_reached_prints_the_usual_line(chunks_of_two) -> None:
    users_create(5)
    summary = generate("--generator", "offline", "--max-seconds", "60")
    assert summary["created"] == "5"


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_max_seconds_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(CommandError, match="--max-seconds"):
        call_command("runpipeline", "generate", "--max-seconds", value)
