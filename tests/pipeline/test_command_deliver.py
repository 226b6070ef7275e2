"""`runpipeline deliver`: the documented options, one meaning per shared option, SIGTERM on a hung database."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from delivery.worker import DeliverySummary
from pipeline import stages
from pipeline.management.commands.runpipeline import Command
from tests.conftest import PROJECT_DIR

# SIGTERM to exit: the grace period, the interpreter's start-up and a loaded machine's slack.
EXIT_WITHIN_SECONDS = 10


@pytest.fixture
def deliver_calls(monkeypatch) -> list[dict]:
    """The keyword arguments of each ``notifications_deliver`` call the command makes."""
    calls: list[dict] = []

    def deliver(**kwargs) -> DeliverySummary:
        calls.append(kwargs)
        return DeliverySummary(delivered=3, elapsed_seconds=1.0)

    monkeypatch.setattr(stages, "notifications_deliver", deliver)
    return calls


def deliver(*args: str) -> str:
    out = io.StringIO()
    call_command("runpipeline", "deliver", *args, stdout=out)
    return out.getvalue().strip()


def test_the_documented_options_reach_the_worker(deliver_calls) -> None:
    line = deliver("--concurrency", "3", "--batch-size", "7", "--forever", "--max-seconds", "9")
    [call] = deliver_calls
    assert (call["concurrency"], call["batch_size"], call["forever"]) == (3, 7, True)
    assert call["max_seconds"] == 9.0
    assert line == "delivered 3, retrying 0, failed 0, expired 0, cancelled 0 in 1.0s (3.0/s)"


def test_without_options_the_settings_decide(deliver_calls, settings) -> None:
    settings.NOTIFICATIONS_CONCURRENCY = 5
    settings.NOTIFICATIONS_BATCH_SIZE = 11
    deliver()
    [call] = deliver_calls
    assert (call["concurrency"], call["batch_size"], call["forever"]) == (5, 11, False)
    assert call["max_seconds"] is None


def test_without_a_batch_size_setting_the_worker_sizes_its_batches(deliver_calls, settings) -> None:
    settings.NOTIFICATIONS_BATCH_SIZE = None
    deliver("--concurrency", "3")
    [call] = deliver_calls
    assert call["batch_size"] is None


def test_max_seconds_takes_a_fraction_as_generate_does(deliver_calls) -> None:
    deliver("--max-seconds", "0.5")
    assert deliver_calls[0]["max_seconds"] == 0.5


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf"])
def test_max_seconds_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(CommandError, match="--max-seconds"):
        call_command("runpipeline", "deliver", "--max-seconds", value)


@pytest.mark.parametrize("value", ["0", "1.5", "many"])
def test_concurrency_must_be_a_positive_whole_number(value: str) -> None:
    with pytest.raises(CommandError, match="--concurrency"):
        call_command("runpipeline", "deliver", "--concurrency", value)


def subcommand_options(stage: str) -> dict[str, object]:
    """The options of one subcommand by flag, as argparse holds them."""
    parser = Command().create_parser("manage.py", "runpipeline")
    [subparsers] = [a for a in parser._actions if a.dest == "stage"]
    return {
        flag: action
        for action in subparsers.choices[stage]._actions
        for flag in action.option_strings
    }


@pytest.mark.parametrize("flag", ["--concurrency", "--max-seconds"])
def test_a_shared_option_means_the_same_in_both_stages(flag: str) -> None:
    generate, deliver = subcommand_options("generate")[flag], subcommand_options("deliver")[flag]
    assert (generate.type, generate.help) == (deliver.type, deliver.help)


@pytest.mark.slow
def test_sigterm_ends_deliver_forever_when_the_database_never_answers(silent_database) -> None:
    worker = subprocess.Popen(
        [sys.executable, str(PROJECT_DIR / "manage.py"), "runpipeline", "deliver", "--forever"],
        cwd=PROJECT_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings.development",
            "DATABASE_URL": silent_database.url,
            "PYTHONUNBUFFERED": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The worker is waiting on the database: its signal handling is in place by then.
        assert silent_database.accepted.wait(60), "the worker never reached the database"
        time.sleep(0.5)
        worker.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            _, stderr = worker.communicate(timeout=EXIT_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {EXIT_WITHIN_SECONDS} s after SIGTERM")
        assert time.monotonic() - sent < EXIT_WITHIN_SECONDS
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate(timeout=10)
    assert "Traceback" not in stderr
    if worker.returncode != 0:
        # Ended by the grace period: one line saying so, after the stop request's line.
        last = stderr.strip().splitlines()[-1]
        assert "lease" in last, stderr
