"""Benchmark the REST API under gunicorn on PostgreSQL against bare Django views, in the same run.

    .venv/bin/python bench/api.py                                # 1,000,000 rows, 100,000 for one user
    .venv/bin/python bench/api.py --rows 200000 --user-rows 100000  # a quick run

Fills a fresh database ``bench_api`` (``BENCH_DATABASE`` to name another; dropped and
re-created on the server of ``BENCH_POSTGRES_URL``, default
``postgres://postgres@127.0.0.1:5432/postgres``) with
``--user-rows`` notifications of one user (one per date) and the rest of ``--rows``
spread over other users (``DAYS`` dates each), then ``VACUUM ANALYZE``. It starts
gunicorn (``--workers``) on the production settings plus the bare views of
``bench/api_site.py`` (see ``bench/api_settings.py``) and measures requests per second
from ``--clients`` threads, ``--seconds`` per case and round, over ``--rounds`` rounds
(every case in every round, API and bare view in turn; the median round counts), of:

- ``GET /api/v1/users/<id>/notifications/`` page 1, and page 1,000 as its ``Link``
  header reaches it (the keyset ``cursor``), and page 1,000 by ``?page=`` alone (offset);
- the same, page 1, for a user with ``DAYS`` rows;
- ``GET /api/v1/users/?name=``.

Each API request sends an API key and goes through authentication, throttling
(``API_THROTTLE_RATE`` raised so that nothing is refused), the count for
``X-Total-Count``, pagination and serializers; each bare view answers the same
JSON body (checked) from one query. Targets: every API case at least 0.5x its bare
view; page 1,000 (cursor) within 20% of page 1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DATABASE", "bench_api")
DAYS = 100
BENCH_USER = "bench"
PAGE_SIZE = 50
RATIO_TARGET = 0.5
PAGE_FLATNESS = 0.20


def database_recreate(server_url: str) -> str:
    """Drop and create the bench database; returns its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DB}")
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def rows_fill(*, rows: int, user_rows: int) -> int:
    """Insert the users and notifications in a few statements; returns how many users."""
    from django.db import connection

    others = max(1, -(-(rows - user_rows) // DAYS))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO accounts_user (user_id, name, email, signup_date, age, height_cm,
                weight_kg, activity_level, health_goals, timezone, rotation_slot)
            SELECT CASE WHEN i = 0 THEN %s ELSE 'u' || i END, 'Bench User ' || i,
                'user' || i || '@example.com', DATE '2024-01-01', 20 + i %% 50, 170.5, 70,
                (ARRAY['Low','Moderate','High'])[1 + i %% 3],
                (ARRAY['Weight Loss','Heart Health','Muscle Gain'])[1 + i %% 3], '', i %% 3
            FROM generate_series(0, %s) AS i
            """,
            [BENCH_USER, others],
        )
        notification_sql = """
            INSERT INTO outbox_dailynotification (id, user_id, date, category, title, body,
                generated_by, status, attempts, next_attempt_at, lease_expires_at, last_error,
                delivered_at, send_at, expires_at, created_at, updated_at)
            SELECT gen_random_uuid(), user_id, CURRENT_DATE - d,
                (ARRAY['reminder','insight','tip'])[1 + d %% 3], 'Drink some water',
                'A glass of water before each meal helps you reach your goal.', 'offline',
                CASE WHEN d %% 20 = 0 THEN 'failed' ELSE 'delivered' END, 1 + d %% 3, NULL, NULL,
                CASE WHEN d %% 20 = 0 THEN 'HTTP 400: rejected' ELSE '' END,
                CASE WHEN d %% 20 = 0 THEN NULL ELSE now() - make_interval(days => d) END,
                now() - make_interval(days => d), now() - make_interval(days => d, hours => -13),
                now(), now()
            FROM {source}
        """
        cursor.execute(
            notification_sql.format(
                source="(SELECT %s AS user_id) AS u, generate_series(0, %s) AS d"
            ),
            [BENCH_USER, user_rows - 1],
        )
        cursor.execute(
            notification_sql.format(
                source="(SELECT 'u' || i AS user_id FROM generate_series(1, %s) AS i) AS u, "
                "generate_series(0, %s) AS d LIMIT %s"
            ),
            [others, DAYS - 1, max(0, rows - user_rows)],
        )
        for table in ("accounts_user", "outbox_dailynotification"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return others + 1


def count_time(user_id: str) -> float:
    """Median milliseconds of the history's ``X-Total-Count`` query for ``user_id``, alone."""
    from outbox.models import DailyNotification

    timings = []
    for _ in range(21):
        started = time.perf_counter()
        DailyNotification.objects.filter(user_id=user_id).count()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def load(port: int, path: str, headers: dict[str, str], *, clients: int, seconds: float) -> float:
    """Requests per second from ``clients`` threads asking ``path`` for ``seconds``; all must be 200."""
    counts = [0] * clients
    failures: list[int] = []
    deadline = time.perf_counter() + seconds

    def run(slot: int) -> None:
        while time.perf_counter() < deadline:
            status, _, _ = get(port, path, headers)
            if status != 200:
                failures.append(status)
                return
            counts[slot] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{path} answered {failures[0]}")
    return sum(counts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--user-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    if options.user_rows < 1000 * PAGE_SIZE:
        raise SystemExit(f"--user-rows must be at least {1000 * PAGE_SIZE:,} to have a page 1,000")

    server_url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    database_url = database_recreate(server_url)
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")},
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": "60",
        "DJANGO_SETTINGS_MODULE": "bench.api_settings",
        "DJANGO_SECRET_KEY": "bench-only-" + "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SSL_REDIRECT": "false",
        "DJANGO_TRUST_X_FORWARDED_PROTO": "false",
        "API_THROTTLE_RATE": "1000000/second",
    }
    # The fill's statements run longer than the served requests' 30 s bound.
    os.environ.update(env, DATABASE_STATEMENT_TIMEOUT="0")
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from core.api.authentication import api_key_create
    from outbox.models import DailyNotification

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    users = rows_fill(rows=options.rows, user_rows=options.user_rows)
    fill_seconds = time.perf_counter() - started
    total = DailyNotification.objects.count()
    _, key = api_key_create(name="bench")
    # The cursor a client following the Link headers holds for page 1,000: the last date of page 999.
    boundary = (
        DailyNotification.objects.filter(user_id=BENCH_USER)
        .order_by("-date")
        .values_list("date", flat=True)[999 * PAGE_SIZE - 1]
    )
    cursor = f"after:{boundary.isoformat()}"
    count_ms = count_time(BENCH_USER)
    count_ttl = settings.API_COUNT_CACHE_SECONDS

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "settings.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(options.workers),
        ],
        cwd=PROJECT_DIR,
        env={**os.environ, **env, "DATABASE_STATEMENT_TIMEOUT": "30"},
        # The audit lines are written as in production, then dropped.
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(port, "/healthz", {})
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)

        history = f"users/{BENCH_USER}/notifications/?page_size={PAGE_SIZE}"
        typical = f"users/u1/notifications/?page_size={PAGE_SIZE}"
        name = "name=bench%20user%20123"
        cases = [
            ("history, page 1", f"/api/v1/{history}", f"/bare/{history}"),
            (
                "history, page 1,000 (Link cursor)",
                f"/api/v1/{history}&page=1000&cursor={cursor}",
                f"/bare/{history}&cursor={cursor}",
            ),
            (
                "history, page 1,000 (?page= alone)",
                f"/api/v1/{history}&page=1000",
                f"/bare/{history}&page=1000",
            ),
            (
                f"history of a {DAYS}-day user, page 1",
                f"/api/v1/{typical}",
                f"/bare/{typical}",
            ),
            ("users ?name=", f"/api/v1/users/?{name}", f"/bare/users/?{name}"),
        ]
        auth = {"Authorization": f"Api-Key {key}"}
        for label, api_path, bare_path in cases:
            api_status, api_body, _ = get(port, api_path, auth)
            bare_status, bare_body, _ = get(port, bare_path, {})
            if (api_status, bare_status) != (200, 200) or json.loads(api_body) != json.loads(
                bare_body
            ):
                raise SystemExit(f"{label}: the API and the bare view disagree")
            if label.startswith("history, page 1,000 (Link"):
                previous = get(port, f"/api/v1/{history}&page=999", auth)[2]["Link"]
                if cursor not in previous.replace("%3A", ":"):
                    raise SystemExit("page 999's Link header does not carry page 1,000's cursor")

        print(
            f"PostgreSQL, {total:,} notifications ({options.user_rows:,} for user "
            f"{BENCH_USER!r}), {users:,} users, filled in {fill_seconds:.1f}s; gunicorn "
            f"{options.workers} workers, {options.clients} client threads, "
            f"{options.rounds} x {options.seconds:g}s per case"
        )
        print(f"{'case':<36} {'API req/s':>10} {'bare req/s':>11} {'ratio':>7}")
        # Every round measures every case, so a slow spell of the machine spreads over all.
        rates: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label, *_ in cases}
        for _ in range(options.rounds):
            for label, api_path, bare_path in cases:
                api_rates, bare_rates = rates[label]
                api_rates.append(
                    load(port, api_path, auth, clients=options.clients, seconds=options.seconds)
                )
                bare_rates.append(
                    load(port, bare_path, {}, clients=options.clients, seconds=options.seconds)
                )
        results = {}
        for label, (api_rates, bare_rates) in rates.items():
            api_rate, bare_rate = statistics.median(api_rates), statistics.median(bare_rates)
            results[label] = (api_rate, bare_rate)
            print(f"{label:<36} {api_rate:>10.0f} {bare_rate:>11.0f} {api_rate / bare_rate:>6.2f}x")
    finally:
        server.terminate()
        server.wait(timeout=30)

    page_1 = results["history, page 1"][0]
    page_1000 = results["history, page 1,000 (Link cursor)"][0]
    flatness = page_1000 / page_1
    ratios = [api / bare for label, (api, bare) in results.items() if "?page= alone" not in label]
    print(
        f"the history's COUNT for {BENCH_USER!r} ({options.user_rows:,} rows) alone: "
        f"{count_ms:.1f} ms a request (the bare view does not count; the API counts "
        + (
            f"once per user and filters per worker every {count_ttl}s, API_COUNT_CACHE_SECONDS)"
            if count_ttl
            else "every request, API_COUNT_CACHE_SECONDS=0)"
        )
    )
    print(
        f"page 1,000 / page 1 (cursor): {flatness:.2f} "
        f"({'meets' if abs(1 - flatness) <= PAGE_FLATNESS else 'MISSES'} the ±20% target); "
        f"lowest API / bare ratio {min(ratios):.2f}x "
        f"({'meets' if min(ratios) >= RATIO_TARGET else 'MISSES'} the {RATIO_TARGET}x target)"
    )


if __name__ == "__main__":
    main()
