"""Benchmark ``purge_outbox``: millions of old rows with their attempts, in bounded transactions.

    .venv/bin/python bench/purge.py                    # 5,000,000 rows (with attempts), PostgreSQL
    .venv/bin/python bench/purge.py --rows 500000      # a quick run
    .venv/bin/python bench/purge.py --databases sqlite --rows 200000

For each database: a fresh database (a temporary SQLite file; ``BENCH_DATABASE``,
default ``bench_purge``, dropped and re-created on the PostgreSQL server of
``BENCH_POSTGRES_URL``, default ``postgres://postgres@127.0.0.1:5432/postgres``),
migrated, then filled by the raw driver (``COPY`` on PostgreSQL, ``executemany`` on
SQLite): ``--rows`` notifications over 100 dates older than the retention, each with
one delivery attempt; one in a hundred of them pending (never purged). The fill's
own rate is the baseline printed next to the purge's. Then, in its own process,
``notifications_purge`` at the default batch size: rows/s, and the longest single
transaction. Targets: at least 20,000 rows/s and no transaction over 1 s; afterwards
exactly the pending rows and their attempts remain.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import uuid
from functools import partial

import harness

PROJECT_DIR = harness.PROJECT_DIR
TODAY = datetime.date(2026, 11, 22)
RETENTION_DAYS = 90
DATES = 100
RATE_TARGET = 20_000
TRANSACTION_TARGET_SECONDS = 1.0
KEEP_EVERY = 100  # one row in a hundred is pending: the purge must leave it
FINAL = ("delivered", "failed", "expired", "cancelled")
NOTIFICATION_COLUMNS = (
    "id",
    "user_id",
    "date",
    "category",
    "title",
    "body",
    "generated_by",
    "status",
    "attempts",
    "last_error",
    "delivered_at",
    "send_at",
    "created_at",
    "updated_at",
)
ATTEMPT_COLUMNS = (
    "notification_id",
    "started_at",
    "duration_ms",
    "http_status",
    "error",
    "response_excerpt",
)
USER_COLUMNS = (
    "user_id",
    "name",
    "email",
    "signup_date",
    "age",
    "height_cm",
    "weight_kg",
    "activity_level",
    "health_goals",
    "timezone",
    "rotation_slot",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--databases", default="postgres")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.worker:
        worker_main()
        return
    print(
        f"purge benchmark: {args.rows:,} notifications with one attempt each over {DATES} dates; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    for database in (name.strip() for name in args.databases.split(",") if name.strip()):
        with fresh_database(database) as url:
            purge_bench(database=database, url=url, rows=args.rows)


# Each step in a process of this script (``--worker``); ``migrate`` first in a fresh database.
run_worker = partial(harness.run_worker, __file__)
fresh_database = partial(harness.fresh_database, script=__file__, default_name="bench_purge")


def purge_bench(*, database: str, url: str, rows: int) -> None:
    print(f"\n[{database}] {rows:,} notifications", flush=True)
    filled = run_worker("fill", url=url, rows=rows)
    fill_rate = filled["rows"] / filled["seconds"]
    print(
        f"  fill (raw driver, notifications + attempts): {filled['rows']:,} rows in "
        f"{filled['seconds']:.1f}s = {fill_rate:,.0f} rows/s",
        flush=True,
    )
    purged = run_worker("purge", url=url)
    rate = purged["notifications"] / purged["seconds"]
    rate_ok = "ok" if rate >= RATE_TARGET else "BELOW TARGET"
    longest_ok = "ok" if purged["longest"] <= TRANSACTION_TARGET_SECONDS else "OVER TARGET"
    print(
        f"  purge_outbox: {purged['notifications']:,} notifications + {purged['attempts']:,} "
        f"attempts in {purged['seconds']:.1f}s = {rate:,.0f} rows/s "
        f"(target >= {RATE_TARGET:,}: {rate_ok}); {rate / fill_rate:.2f}x the fill's rate"
    )
    print(
        f"  {purged['batches']} transactions, longest {purged['longest']:.3f}s "
        f"(target <= {TRANSACTION_TARGET_SECONDS:g}s: {longest_ok}); "
        f"left: {purged['left_rows']:,} rows (all pending: {purged['left_all_pending']}), "
        f"{purged['left_attempts']:,} attempts"
    )


# --- the workers: one step each, in their own process -----------------------


def worker_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    parser.add_argument("--rows", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    figures = {
        "migrate": worker_migrate,
        "fill": lambda: worker_fill(args.rows),
        "purge": worker_purge,
    }[args.worker]()
    print(json.dumps(figures or {}))


def worker_migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def user_rows(count: int):
    for number in range(count):
        yield (
            f"u{number}",
            f"User {number}",
            f"user{number}@example.com",
            "2021-01-01",
            40,
            170,
            70,
            "Moderate",
            "Heart Health",
            "",
            number % 3,
        )


def notification_rows(rows: int, users: int):
    """``rows`` notifications (one per user per date), then their attempts, as two generators."""
    oldest = TODAY - datetime.timedelta(days=RETENTION_DAYS + DATES)
    stamp = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    ids: list[uuid.UUID] = []

    def notifications():
        for index in range(rows):
            day = oldest + datetime.timedelta(days=index // users)
            status = "pending" if index % KEEP_EVERY == 0 else FINAL[index % len(FINAL)]
            notification_id = uuid.uuid4()
            ids.append(notification_id)
            yield (
                notification_id,
                f"u{index % users}",
                day,
                "tip",
                "Drink water",
                "A glass of water before each meal helps.",
                "offline",
                status,
                1,
                "",
                stamp if status == "delivered" else None,
                stamp,
                stamp,
                stamp,
            )

    def attempts():
        for notification_id in ids:
            yield (notification_id, stamp, 12, 200, "", "")

    return notifications, attempts


def worker_fill(rows: int) -> dict:
    from django.db import connection, transaction

    users = max(1, -(-rows // DATES))
    notifications, attempts = notification_rows(rows, users)
    started = time.perf_counter()
    tables = (
        ("accounts_user", USER_COLUMNS, lambda: user_rows(users)),
        ("outbox_dailynotification", NOTIFICATION_COLUMNS, notifications),
        ("delivery_deliveryattempt", ATTEMPT_COLUMNS, attempts),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        for table, columns, source in tables:
            names = ", ".join(columns)
            if connection.vendor == "postgresql":
                with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for values in source():
                        copy.write_row(values)
            else:
                marks = ", ".join("?" * len(columns))
                raw.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})",
                    (
                        tuple(
                            value.hex if isinstance(value, uuid.UUID) else value for value in values
                        )
                        for values in source()
                    ),
                )
    seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"rows": rows * 2 + users, "seconds": seconds}


def worker_purge() -> dict:
    from delivery.models import DeliveryAttempt
    from outbox.models import DailyNotification
    from pipeline.retention import notifications_purge

    started = time.perf_counter()
    summary = notifications_purge(older_than_days=RETENTION_DAYS, today=TODAY)
    seconds = time.perf_counter() - started
    left = DailyNotification.objects.count()
    return {
        "notifications": summary.notifications,
        "attempts": summary.attempts,
        "batches": summary.batches,
        "longest": summary.longest_batch_seconds,
        "seconds": seconds,
        "left_rows": left,
        "left_all_pending": left == DailyNotification.objects.filter(status="pending").count(),
        "left_attempts": DeliveryAttempt.objects.count(),
    }


if __name__ == "__main__":
    main()
