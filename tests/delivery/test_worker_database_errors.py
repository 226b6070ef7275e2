"""``--forever`` outlives a database that goes away for a moment (restart, lock, killed backend).

The worker runs on a thread of its own (with its own connection) while the test takes
the database away from it: on SQLite another connection holds the write lock beyond
the worker's busy timeout; on PostgreSQL the worker's backend is terminated.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection

from delivery.models import DeliveryAttempt
from delivery.worker import DeliverySummary, notifications_deliver
from outbox.models import DailyNotification
from tests.conftest import on_postgresql
from tests.delivery.tcpproxy import TcpProxy
from tests.factories import notification_create

pytestmark = pytest.mark.django_db(transaction=True)

Status = DailyNotification.Status


def wait_until(condition, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


class WorkerThread:
    """``notifications_deliver(forever=True)`` on a thread; ``finish()`` stops it and re-raises.

    With ``database_port``, the thread's connection goes to the database through that
    local port (a ``TcpProxy``) while every other connection goes direct.
    """

    def __init__(self, *, database_port: int | None = None) -> None:
        self.database_port = database_port
        self.stop = threading.Event()
        self.summary: DeliverySummary | None = None
        self.error: BaseException | None = None
        self.backend_pid: int | None = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            if self.database_port is not None:
                # This thread's connection only: the dictionary is replaced, not changed.
                connection.settings_dict = {
                    **connection.settings_dict,
                    "HOST": "127.0.0.1",
                    "PORT": str(self.database_port),
                }
            if on_postgresql():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.backend_pid = cursor.fetchone()[0]
            self.summary = notifications_deliver(
                concurrency=2, batch_size=5, forever=True, stop=self.stop
            )
        except BaseException as error:  # the test reports it
            self.error = error
        finally:
            connection.close()

    def start(self) -> WorkerThread:
        self.thread.start()
        return self

    def alive(self) -> bool:
        return self.thread.is_alive()

    def finish(self) -> DeliverySummary:
        self.stop.set()
        self.thread.join(20)
        if self.error is not None:
            raise AssertionError(f"the worker died: {self.error!r}") from self.error
        assert self.summary is not None
        return self.summary


@pytest.fixture
def persistent_connections(monkeypatch) -> None:
    """Keep connections open between polls (as CONN_MAX_AGE does), so a dead one is reused.

    A new thread's connection reads the same settings dictionary as this one.
    """
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", False)
    if not on_postgresql():
        # Give up on a held lock quickly, as a longer hold than the busy timeout would.
        monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.05)


@pytest.fixture
def worker(delivery_settings, persistent_connections) -> Iterator[WorkerThread]:
    threads: list[WorkerThread] = []

    def start(**options) -> WorkerThread:
        threads.append(WorkerThread(**options).start())
        return threads[-1]

    yield start
    for thread in threads:
        thread.stop.set()
        thread.thread.join(20)


def sqlite_write_lock(seconds: float) -> None:
    """Hold SQLite's write lock from another connection for ``seconds``."""
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=5, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        other.execute("ROLLBACK")
    finally:
        other.close()


def terminate_backend(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_database_error_while_polling_does_not_end_forever(worker, endpoint):
    if on_postgresql():
        thread = worker()
        wait_until(lambda: thread.backend_pid is not None)
        time.sleep(0.3)  # the worker polls, finds nothing, keeps its connection
        terminate_backend(thread.backend_pid)
        notification = notification_create()
    else:
        notification = notification_create()
        holder = threading.Thread(target=sqlite_write_lock, args=(0.6,))
        holder.start()
        time.sleep(0.1)
        thread = worker()
        holder.join()

    wait_until(
        lambda: (
            not thread.alive()
            or DailyNotification.objects.filter(
                id=notification.id, status=Status.DELIVERED
            ).exists()
        )
    )
    summary = thread.finish()

    assert summary.delivered == 1
    assert [r["idempotency_key"] for r in endpoint.app.recorder.received] == [str(notification.id)]


def test_results_survive_a_database_error_at_settle(worker, endpoint):
    endpoint.app.faults.latency_ms = 400
    notification = notification_create()
    thread = worker()
    # The row is claimed and its request is on its way: now the database goes away.
    wait_until(
        lambda: DailyNotification.objects.filter(id=notification.id, status=Status.SENDING).exists()
    )
    if on_postgresql():
        terminate_backend(thread.backend_pid)
    else:
        sqlite_write_lock(0.8)

    wait_until(
        lambda: (
            not thread.alive()
            or DailyNotification.objects.filter(
                id=notification.id, status=Status.DELIVERED
            ).exists()
        )
    )
    summary = thread.finish()

    assert summary.delivered == 1
    notification.refresh_from_db()
    assert notification.attempts == 1
    assert DeliveryAttempt.objects.filter(notification=notification).count() == 1
    assert len(endpoint.app.recorder.received) == 1


@pytest.fixture
def database_outage() -> Iterator:
    """A context manager taking the database away from the worker for its duration.

    PostgreSQL: the worker connects through a TcpProxy, paused for the outage (start
    the worker with ``database_port=outage.port``). SQLite: another connection holds
    the write lock.
    """
    proxy = None
    if on_postgresql():
        params = connection.settings_dict
        proxy = TcpProxy((params["HOST"] or "127.0.0.1", int(params["PORT"] or 5432)))

    class Outage:
        port = proxy.port if proxy else None

        @staticmethod
        def during(seconds: float) -> None:
            if proxy is None:
                sqlite_write_lock(seconds)
                return
            proxy.pause()
            time.sleep(seconds)
            proxy.resume()

    yield Outage
    if proxy is not None:
        proxy.close()


@pytest.mark.slow
def test_every_post_is_logged_when_the_settle_is_abandoned(
    worker, endpoint, delivery_settings, database_outage, caplog
):
    # The outage outlasts the lease: the worker gives up writing the rows' state,
    # takes them again once the database is back and sends them a second time.
    delivery_settings.NOTIFICATIONS_LEASE_SECONDS = 1.5
    delivery_settings.NOTIFICATIONS_TIMEOUT_SECONDS = 0.5
    endpoint.app.faults.latency_ms = 400
    ids = {notification_create().id for _ in range(3)}
    thread = worker(database_port=database_outage.port)
    wait_until(lambda: DailyNotification.objects.filter(status=Status.SENDING).count() == len(ids))
    # The worker's next claim (nothing more is due) is done: it waits for the answers.
    time.sleep(0.1)

    database_outage.during(2.5)
    wait_until(
        lambda: (
            not thread.alive()
            or DailyNotification.objects.filter(status=Status.DELIVERED).count() == len(ids)
        ),
        timeout=30,
    )
    thread.finish()

    assert "delivery.settle_abandoned" in [getattr(r, "action", "") for r in caplog.records]
    received = endpoint.app.recorder.received
    assert len(received) == 2 * len(ids)
    assert DeliveryAttempt.objects.count() == len(received)
    for notification_id in ids:
        assert DeliveryAttempt.objects.filter(notification_id=notification_id).count() == 2


def test_without_forever_a_database_error_still_ends_the_run(delivery_settings, monkeypatch):
    notification_create()

    def locked(**kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("delivery.worker.notifications_claim", locked)

    with pytest.raises(OperationalError):
        notifications_deliver(concurrency=2, batch_size=5)
