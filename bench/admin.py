"""Benchmark the delivery admin list and the dashboard on a large outbox (PostgreSQL).

    .venv/bin/python bench/admin.py                 # 1,000,000 notifications
    .venv/bin/python bench/admin.py --rows 50000    # a quick run

Fills a fresh database ``bench_admin`` (dropped and re-created on the server of
``BENCH_POSTGRES_URL``, default ``postgres://postgres@127.0.0.1:5432/postgres``)
with ``--rows`` notifications over 20 days (50,000 users per day at most; about
85% delivered, 5% failed, 8% pending, 2% sending) in one ``INSERT … SELECT``, runs
``ANALYZE``, then requests each page ``--repeat`` times through Django's test
client as a logged-in superuser and prints the median time and the number of SQL
queries per page. For comparison it times ``SELECT COUNT(*)`` of the table: what
the stock admin paginator (plus its full result count) would add to every page.

Targets: every page under 500 ms at 1,000,000 rows, with a query count that does
not depend on the number of rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DB = "bench_admin"
TARGET_MS = 500.0
DAYS = 20

PAGES = [
    ("notifications list", "/admin/outbox/dailynotification/"),
    ("  filtered: failed", "/admin/outbox/dailynotification/?status__exact=failed"),
    (
        "  filtered: one day",
        "/admin/outbox/dailynotification/?date__year={y}&date__month={m}&date__day={d}",
    ),
    ("  filtered: openai", "/admin/outbox/dailynotification/?generated_by=openai"),
    ("  search: user id", "/admin/outbox/dailynotification/?q=u123"),
    ("  page 50", "/admin/outbox/dailynotification/?p=50"),
    ("delivery dashboard", "/admin/delivery/dashboard/"),
]


def database_recreate(server_url: str) -> str:
    """Drop and create the bench database; returns its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def rows_fill(*, rows: int) -> float:
    """Insert users and ``rows`` notifications in two statements; returns seconds taken."""
    from django.db import connection

    users = max(1, -(-rows // DAYS))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO accounts_user (user_id, name, email, signup_date, age, height_cm,
                weight_kg, activity_level, health_goals, timezone, rotation_slot)
            SELECT 'u' || i, 'Bench User ' || i, 'user' || i || '@example.com', DATE '2024-01-01',
                20 + i %% 50, 170, 70, (ARRAY['Low','Moderate','High'])[1 + i %% 3],
                (ARRAY['Weight Loss','Heart Health','Muscle Gain'])[1 + i %% 3], '', (i - 1) %% 3
            FROM generate_series(1, %s) AS i
            """,
            [users],
        )
        cursor.execute(
            """
            INSERT INTO outbox_dailynotification (id, user_id, date, category, title, body,
                generated_by, status, attempts, next_attempt_at, lease_expires_at, last_error,
                delivered_at, created_at, updated_at)
            SELECT gen_random_uuid(), 'u' || u, CURRENT_DATE - d,
                (ARRAY['reminder','insight','tip'])[1 + (u + d) %% 3], 'Title', 'Body',
                CASE WHEN u %% 10 = 0 THEN 'openai:gpt-4o-mini' ELSE 'offline' END,
                CASE WHEN r < 0.85 THEN 'delivered' WHEN r < 0.90 THEN 'failed'
                     WHEN r < 0.98 THEN 'pending' ELSE 'sending' END,
                1 + (u %% 3), NULL, NULL,
                CASE WHEN r >= 0.85 AND r < 0.90 THEN 'HTTP 400: rejected' ELSE '' END,
                NULL, now() - make_interval(days => d), now()
            FROM (
                SELECT u, d, random() AS r
                FROM generate_series(1, %s) AS u, generate_series(0, %s) AS d
                LIMIT %s
            ) AS grid
            """,
            [users, DAYS - 1, rows],
        )
        cursor.execute("ANALYZE accounts_user")
        cursor.execute("ANALYZE outbox_dailynotification")
    return time.perf_counter() - started


def page_time(client, url: str, *, repeat: int) -> tuple[float, int]:
    """Median milliseconds over ``repeat`` requests (after one warm-up) and the query count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return statistics.median(timings), len(captured.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    server_url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    os.environ["DATABASE_URL"] = database_recreate(server_url)
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings.development"
    os.environ["DJANGO_DEBUG"] = "false"
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    fill_seconds = rows_fill(rows=options.rows)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM outbox_dailynotification")
        total = cursor.fetchone()[0]
        started = time.perf_counter()
        cursor.execute("SELECT COUNT(*) FROM outbox_dailynotification")
        count_ms = (time.perf_counter() - started) * 1000

    staff = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    client = Client(SERVER_NAME="localhost")
    client.force_login(staff)
    today = timezone.localdate()

    print(f"PostgreSQL, {total:,} notifications over {DAYS} days (filled in {fill_seconds:.1f}s)")
    print(f"{'page':<24} {'median ms':>10} {'queries':>8}  target < {TARGET_MS:.0f} ms")
    worst = 0.0
    for label, url in PAGES:
        url = url.format(y=today.year, m=today.month, d=today.day)
        median_ms, queries = page_time(client, url, repeat=options.repeat)
        worst = max(worst, median_ms)
        print(f"{label:<24} {median_ms:>10.1f} {queries:>8}")
    print(
        f"{'SELECT COUNT(*) alone':<24} {count_ms:>10.1f} {'1':>8}  (the stock paginator runs it on every page)"
    )
    print(
        f"slowest page {worst:.1f} ms: {'meets' if worst < TARGET_MS else 'MISSES'} the "
        f"{TARGET_MS:.0f} ms target; slowest page / COUNT(*) = {worst / count_ms:.2f}x"
    )


if __name__ == "__main__":
    main()
