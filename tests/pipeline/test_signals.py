"""SIGTERM and SIGINT: a stop request first, a sure exit after the grace period or a second signal."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pipeline.signals import STOP_GRACE_SECONDS, stop_on_signals

# Short, so the tests wait for the grace period in well under a second.
GRACE = 0.3


class Operator:
    """Collects what the worker says and the exit it asks for, instead of ending pytest."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.exits: list[int] = []
        self.exited = threading.Event()

    def say(self, line: str) -> None:
        self.lines.append(line)

    def exit_now(self, status: int) -> None:
        self.exits.append(status)
        self.exited.set()


@pytest.fixture
def operator() -> Operator:
    return Operator()


def test_the_first_sigterm_sets_the_stop_event_and_says_so(operator: Operator) -> None:
    with stop_on_signals(say=operator.say, exit_now=operator.exit_now) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert operator.lines == ["SIGTERM: finishing what is in flight…"]
    assert operator.exits == []


def test_sigint_is_a_stop_request_too(operator: Operator) -> None:
    with stop_on_signals(say=operator.say, exit_now=operator.exit_now) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(5)
    assert operator.lines == ["SIGINT: finishing what is in flight…"]


def test_still_running_after_the_grace_period_exits_non_zero_with_one_line(
    operator: Operator,
) -> None:
    with stop_on_signals(say=operator.say, exit_now=operator.exit_now, grace_seconds=GRACE):
        sent = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        assert operator.exited.wait(5)
        waited = time.monotonic() - sent
    assert GRACE <= waited < GRACE + 2
    assert operator.exits == [128 + signal.SIGTERM]
    assert len(operator.lines) == 2
    assert operator.lines[1].startswith("SIGTERM: still running 0.3s after the stop request")
    assert "lease expires" in operator.lines[1]


def test_a_worker_that_winds_down_in_time_is_not_exited(operator: Operator) -> None:
    with stop_on_signals(say=operator.say, exit_now=operator.exit_now, grace_seconds=GRACE) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    time.sleep(GRACE * 2)
    assert operator.exits == []


def test_a_second_signal_exits_at_once(operator: Operator) -> None:
    with stop_on_signals(say=operator.say, exit_now=operator.exit_now, grace_seconds=60) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
        os.kill(os.getpid(), signal.SIGINT)
        assert operator.exited.wait(5)
    assert operator.exits == [128 + signal.SIGINT]
    assert operator.lines[-1].startswith("SIGINT again: exiting now")


def test_another_signal_is_not_a_stop_request(operator: Operator) -> None:
    received = threading.Event()
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: received.set())
    try:
        with stop_on_signals(say=operator.say, exit_now=operator.exit_now) as stop:
            os.kill(os.getpid(), signal.SIGUSR1)
            assert received.wait(5)
            time.sleep(0.1)  # the watcher has read the signal's byte by now
            assert not stop.is_set()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert operator.lines == []


def test_the_previous_handlers_and_wakeup_fd_come_back(operator: Operator) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    before_fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before_fd)
    with stop_on_signals(say=operator.say, exit_now=operator.exit_now):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert signal.set_wakeup_fd(before_fd) == before_fd


def test_outside_the_main_thread_no_handler_is_installed(operator: Operator) -> None:
    seen = {}

    def worker_thread() -> None:
        with stop_on_signals(say=operator.say, exit_now=operator.exit_now) as stop:
            seen["handler"] = signal.getsignal(signal.SIGTERM)
            seen["stop"] = stop

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker_thread)
    thread.start()
    thread.join(5)
    assert seen["handler"] is before
    assert not seen["stop"].is_set()


def test_the_grace_period_ends_inside_a_container_stop_timeout() -> None:
    # Docker sends SIGKILL 10 s after SIGTERM by default: exit on our terms before that.
    assert 0 < STOP_GRACE_SECONDS <= 5
