"""Benchmark ``notifications_deliver`` against the raw HTTP limit and the naive loop.

    .venv/bin/python bench/deliver.py                     # 20,000 notifications, both databases
    .venv/bin/python bench/deliver.py --rows 2000         # a quick run
    .venv/bin/python bench/deliver.py --memory-check      # peak RSS at 20,000 vs 200,000 rows
    .venv/bin/python bench/deliver.py --databases sqlite  # skip PostgreSQL
    .venv/bin/python bench/deliver.py --claim-cost-only   # the claim cost alone (PostgreSQL)
    .venv/bin/python bench/deliver.py --claim-cost-only --final-rows 100000  # a quick one

The mock endpoint runs as its own process (``manage.py mock_endpoint``, uvicorn),
the same one for every figure of a setting. Two settings:

- endpoint with no added latency, ``--concurrency 16``;
- endpoint with 20 ms added latency, ``--concurrency 32``.

For each setting, against the same endpoint:

1. for each database, a fresh database (a temporary SQLite file; ``bench_deliver``
   dropped and re-created on the server of ``BENCH_POSTGRES_URL``, default
   ``postgres://postgres@127.0.0.1:5432/postgres``) migrated and filled with
   ``--rows`` users and pending notifications; then the raw limit: ``--rows``
   similar POSTs from the same number of threads, one ``requests.Session`` per
   thread, no database (in this process, measured right before the next step);
   then, in a subprocess of its own, ``notifications_deliver`` end to end
   (rows/s, peak RSS);
2. the naive loop (per row: ``requests.post``, then a single-row ``save()``,
   sequentially) on ``--naive-rows`` rows (500 by default) of the same database;
   its rows/s is extrapolated from that subset, and said so.

Targets: delivery at least 0.7x the raw limit in both settings; at least 10x the
naive loop with 20 ms latency; with ``--memory-check``, delivery's peak RSS at
``--rows`` and ``--memory-rows`` (200,000) within 20% of each other (SQLite).

The claim cost (PostgreSQL; run whenever ``--databases`` names it): a fresh database
with ``--due-rows`` users, each with one row due now and one opening tomorrow (which
no claim may read). ``notifications_claim`` drains the due rows in batches of
``--batch-size``, ``--claim-repeats`` times (the rows are put back and the table
vacuumed between drains); the buffers one claim statement touches are read from
``EXPLAIN (ANALYZE, BUFFERS)``. Then ``--final-rows`` delivered, failed, expired and
cancelled rows are inserted in one ``INSERT … SELECT generate_series`` and the same
is measured again; then they are deleted and the baseline measured once more (its
figures pool both baseline runs). Target: a claim with the final rows within 20% of
one without.
The database is ``--database-name`` on the server of ``BENCH_POSTGRES_URL``, dropped
and re-created.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_BENCH_DB = "bench_deliver"
# The PostgreSQL database the run drops and re-creates (``--database-name``).
BENCH_DB = DEFAULT_BENCH_DB
RAW_TARGET = 0.7
NAIVE_TARGET = 10.0
FLATNESS_TARGET = 0.20
CLAIM_COST_TARGET = 0.20
INSERT_CHUNK = 5000
DATABASES = ("sqlite", "postgres")


@dataclass(frozen=True)
class Setting:
    name: str
    latency_ms: int
    concurrency: int


SETTINGS = (
    Setting("no added latency", 0, 16),
    Setting("20 ms latency", 20, 32),
)


# --- the parent: orchestration and report -----------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--naive-rows", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--memory-check", action="store_true")
    parser.add_argument("--memory-rows", type=int, default=200_000)
    parser.add_argument("--claim-cost-only", action="store_true")
    parser.add_argument("--final-rows", type=int, default=1_000_000)
    parser.add_argument("--due-rows", type=int, default=10_000)
    parser.add_argument("--claim-repeats", type=int, default=5)
    parser.add_argument("--database-name", default=DEFAULT_BENCH_DB)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=16, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return

    global BENCH_DB
    BENCH_DB = args.database_name
    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    verdicts: list[tuple[str, bool]] = []
    if not args.claim_cost_only:
        print(
            f"deliver benchmark: {args.rows:,} notifications, batch size {args.batch_size}, "
            f"databases {', '.join(databases)}, {os.cpu_count()} CPUs "
            "(client and endpoint share them)"
        )
        for setting in SETTINGS:
            verdicts += run_setting(setting, args=args, databases=databases)
        if args.memory_check:
            verdicts += run_memory_check(args)
    if args.claim_cost_only or "postgres" in databases:
        verdicts += run_claim_cost(args)
    print("\nverdicts:")
    for text, ok in verdicts:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")


def run_setting(setting: Setting, *, args, databases: list[str]) -> list[tuple[str, bool]]:
    print(
        f"\n== {setting.name}: endpoint latency {setting.latency_ms} ms, "
        f"concurrency {setting.concurrency} =="
    )
    verdicts = []
    with mock_endpoint(latency_ms=setting.latency_ms) as url:
        for database in databases:
            database_url = database_create(database)
            try:
                child(
                    "setup",
                    database_url=database_url,
                    url=url,
                    rows=args.rows,
                    naive_rows=args.naive_rows,
                )
                # Measured right before the run it is compared with: the machine's
                # load drifts, and the ratio should compare like with like.
                raw = raw_limit(url=url, rows=args.rows, concurrency=setting.concurrency)
                endpoint_reset(url)
                result = child(
                    "deliver",
                    database_url=database_url,
                    url=url,
                    rows=args.rows,
                    concurrency=setting.concurrency,
                    batch_size=args.batch_size,
                )
                report = endpoint_report(url)
                endpoint_reset(url)
                naive = child(
                    "naive", database_url=database_url, url=url, naive_rows=args.naive_rows
                )
                endpoint_reset(url)
            finally:
                database_drop(database, database_url)
            print(f"  {database:<8} raw limit (Session per thread, no db): {raw:9.0f} rows/s")
            rate = result["delivered"] / result["seconds"]
            naive_rate = naive["rows"] / naive["seconds"]
            print(
                f"  {database:<8} notifications_deliver:              {rate:9.0f} rows/s "
                f"({result['delivered']:,} delivered in {result['seconds']:.2f}s, "
                f"peak RSS {result['maxrss_mb']:.0f} MB; endpoint: {report['unique']:,} unique, "
                f"{report['duplicates']} duplicates)"
            )
            print(
                f"  {database:<8} naive loop:                         {naive_rate:9.1f} rows/s "
                f"(measured on {naive['rows']} rows, extrapolated)"
            )
            raw_ratio = rate / raw
            naive_ratio = rate / naive_rate
            print(
                f"  {database:<8} ratios: {raw_ratio:.2f}x the raw limit (target >= {RAW_TARGET}), "
                f"{naive_ratio:.1f}x the naive loop"
                + (f" (target >= {NAIVE_TARGET:.0f})" if setting.latency_ms else "")
            )
            verdicts.append(
                (
                    f"{setting.name}, {database}: {raw_ratio:.2f}x raw limit >= {RAW_TARGET}",
                    raw_ratio >= RAW_TARGET,
                )
            )
            if setting.latency_ms:
                verdicts.append(
                    (
                        f"{setting.name}, {database}: {naive_ratio:.1f}x naive loop >= "
                        f"{NAIVE_TARGET:.0f}",
                        naive_ratio >= NAIVE_TARGET,
                    )
                )
            all_sent = result["delivered"] == args.rows and report["duplicates"] == 0
            verdicts.append((f"{setting.name}, {database}: every row delivered once", all_sent))
    return verdicts


def run_memory_check(args) -> list[tuple[str, bool]]:
    setting = SETTINGS[0]
    print(f"\n== memory: peak RSS of notifications_deliver on SQLite, {setting.name} ==")
    peaks = {}
    with mock_endpoint(latency_ms=0) as url:
        for rows in (args.rows, args.memory_rows):
            database_url = database_create("sqlite")
            try:
                child("setup", database_url=database_url, url=url, rows=rows, naive_rows=0)
                result = child(
                    "deliver",
                    database_url=database_url,
                    url=url,
                    rows=rows,
                    concurrency=setting.concurrency,
                    batch_size=args.batch_size,
                )
                endpoint_reset(url)
            finally:
                database_drop("sqlite", database_url)
            peaks[rows] = result["maxrss_mb"]
            print(
                f"  {rows:>9,} rows: peak RSS {result['maxrss_mb']:.1f} MB, "
                f"{result['delivered'] / result['seconds']:.0f} rows/s"
            )
    small, large = peaks[args.rows], peaks[args.memory_rows]
    growth = large / small - 1
    return [
        (
            f"peak RSS {small:.0f} MB at {args.rows:,} vs {large:.0f} MB at "
            f"{args.memory_rows:,} rows: {growth:+.0%} (flat within {FLATNESS_TARGET:.0%})",
            growth <= FLATNESS_TARGET,
        )
    ]


def run_claim_cost(args) -> list[tuple[str, bool]]:
    print(
        f"\n== claim cost on PostgreSQL: {args.due_rows:,} due rows (and as many opening "
        f"tomorrow), batch size {args.batch_size}, without and with {args.final_rows:,} "
        "final rows =="
    )
    database_url = database_create("postgres")
    try:
        result = child(
            "claimcost",
            database_url=database_url,
            url="http://127.0.0.1:9/unused",
            due_rows=args.due_rows,
            final_rows=args.final_rows,
            batch_size=args.batch_size,
            claim_repeats=args.claim_repeats,
        )
    finally:
        database_drop("postgres", database_url)
    for case in ("without", "with"):
        figures = result[case]
        runs = " / ".join(f"{value:.1f}" for value in figures["runs_claim_ms"])
        print(
            f"  {case:<7} final rows: {figures['final_rows']:>9,} in the table; one claim "
            f"{figures['claim_ms']:.2f} ms (median of {figures['claims']} claims; by run {runs}), "
            f"a drain of {args.due_rows:,} rows {figures['drain_s']:.3f} s (median of "
            f"{figures['drains']}); buffers per claim statement {figures['buffers']['total']} "
            f"({figures['buffers']['read']} of them finding and reading the rows)"
        )
    print(f"  inserting the final rows took {result['insert_s']:.1f} s")
    ratio = result["with"]["claim_ms"] / result["without"]["claim_ms"]
    drain_ratio = result["with"]["drain_s"] / result["without"]["drain_s"]
    buffer_ratio = result["with"]["buffers"]["total"] / result["without"]["buffers"]["total"]
    read_ratio = result["with"]["buffers"]["read"] / result["without"]["buffers"]["read"]
    buffers = (
        f"buffers {result['without']['buffers']['total']} vs {result['with']['buffers']['total']}, "
        f"reading {result['without']['buffers']['read']} vs {result['with']['buffers']['read']}"
    )
    print(
        f"  ratio: one claim {ratio:.2f}x, a drain {drain_ratio:.2f}x ({buffers}); "
        f"target <= {1 + CLAIM_COST_TARGET:.2f}x"
    )
    return [
        (
            f"claim cost with {args.final_rows:,} final rows: {ratio:.2f}x the cost with none "
            f"(drain {drain_ratio:.2f}x; {buffers}) <= {1 + CLAIM_COST_TARGET:.2f}x",
            ratio <= 1 + CLAIM_COST_TARGET,
        ),
        # The same in buffers, which the load of a shared machine does not blur.
        (
            f"claim buffers with {args.final_rows:,} final rows: {buffer_ratio:.2f}x "
            f"(reading {read_ratio:.2f}x) <= {1 + CLAIM_COST_TARGET:.2f}x",
            buffer_ratio <= 1 + CLAIM_COST_TARGET,
        ),
    ]


class mock_endpoint:
    """The mock endpoint as a subprocess (``manage.py mock_endpoint``); yields its URL."""

    def __init__(self, *, latency_ms: int) -> None:
        self.latency_ms = latency_ms

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(PROJECT_DIR / "manage.py"),
                "mock_endpoint",
                "--port",
                "0",
                "--latency-ms",
                str(self.latency_ms),
            ],
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "settings.development"},
        )
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            raise SystemExit(f"the mock endpoint did not start: {line!r}")
        return line.split()[-1]

    def __exit__(self, *exc_info) -> None:
        self.process.terminate()
        self.process.wait(10)


def endpoint_report(url: str) -> dict:
    import requests

    return requests.get(url, params={"summary": 1}, timeout=30).json()


def endpoint_reset(url: str) -> None:
    import requests

    requests.delete(url, timeout=30)


def raw_limit(*, url: str, rows: int, concurrency: int) -> float:
    """POSTs/s of ``rows`` similar requests from ``concurrency`` threads, a Session each."""
    import requests
    from requests.adapters import HTTPAdapter

    local = threading.local()

    def post(number: int) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
        key = str(uuid.uuid4())
        body = json.dumps(
            {
                "id": key,
                "date": "2026-11-22",
                "category": "tip",
                "title": "Drink water",
                "message": f"A glass of water before each meal helps (user {number}).",
                "generated_by": "offline",
                "send_at": "2026-11-22T08:00:00Z",
                "expires_at": "2026-11-22T21:00:00Z",
                "user": {
                    "id": f"u{number}",
                    "name": f"Bench User {number}",
                    "email": f"u{number}@example.com",
                },
            },
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        return session.post(url, data=body, headers=headers, timeout=30).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        statuses = list(pool.map(post, range(rows), chunksize=64))
    seconds = time.perf_counter() - started
    if any(status != 200 for status in statuses):
        raise SystemExit("the raw limit run got non-200 answers")
    return rows / seconds


def postgres_server_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def database_create(database: str) -> str:
    """A fresh, empty database; returns its DATABASE_URL."""
    if database == "sqlite":
        directory = tempfile.mkdtemp(prefix="bench-deliver-")
        return f"sqlite:///{directory}/bench.sqlite3"
    import psycopg

    server = postgres_server_url()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return server.rsplit("/", 1)[0] + f"/{BENCH_DB}"


def database_drop(database: str, database_url: str) -> None:
    if database == "sqlite":
        path = Path(database_url.removeprefix("sqlite:///"))
        for file in path.parent.glob("*"):
            file.unlink()
        path.parent.rmdir()
        return
    import psycopg

    with psycopg.connect(postgres_server_url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def child(mode: str, *, database_url: str, url: str, **options) -> dict:
    """Run one step in a fresh Python process; returns the JSON it prints last."""
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--database-url",
        database_url,
        "--url",
        url,
    ]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    completed = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"bench step {mode} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- the children: one step each, against one database ----------------------


def child_main(args) -> None:
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings.development"
    os.environ["NOTIFICATIONS_URL"] = args.url
    os.environ["NOTIFICATIONS_SIGNING_SECRET"] = ""
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Measure as production runs: no per-query bookkeeping of DEBUG.
    os.environ.setdefault("DJANGO_DEBUG", "false")
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    steps = {
        "setup": child_setup,
        "deliver": child_deliver,
        "naive": child_naive,
        "claimcost": child_claim_cost,
    }
    result = steps[args.child](args)
    print(json.dumps(result))


def child_setup(args) -> dict:
    """Migrate, then insert ``rows`` + ``naive_rows`` users and pending notifications in chunks."""
    import datetime
    from decimal import Decimal

    from django.core.management import call_command

    from accounts.models import User
    from outbox.models import DailyNotification

    call_command("migrate", verbosity=0)
    total = args.rows + args.naive_rows
    date = datetime.date(2026, 11, 22)
    for start in range(0, total, INSERT_CHUNK):
        numbers = range(start, min(start + INSERT_CHUNK, total))
        User.objects.bulk_create(
            User(
                user_id=f"u{n}",
                name=f"Bench User {n}",
                email=f"u{n}@example.com",
                signup_date=datetime.date(2024, 1, 1),
                age=20 + n % 60,
                height_cm=Decimal("170.0"),
                weight_kg=Decimal("70.0"),
                activity_level="Moderate",
                health_goals="Heart Health",
                # Explicit: the model's default would count the table once per user.
                rotation_slot=n % 3,
            )
            for n in numbers
        )
        DailyNotification.objects.bulk_create(
            DailyNotification(
                user_id=f"u{n}",
                date=date,
                category=("reminder", "insight", "tip")[n % 3],
                title="Drink water",
                body=f"A glass of water before each meal helps (user {n}).",
                generated_by="offline",
                # The naive loop's rows wait for it: not due for the worker.
                next_attempt_at=(
                    datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC) if n >= args.rows else None
                ),
            )
            for n in numbers
        )
    return {"rows": total}


def child_deliver(args) -> dict:
    from delivery.worker import notifications_deliver
    from outbox.models import DailyNotification

    summary = notifications_deliver(concurrency=args.concurrency, batch_size=args.batch_size)
    delivered = DailyNotification.objects.filter(status="delivered").count()
    return {
        "delivered": delivered,
        "seconds": summary.elapsed_seconds,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_naive(args) -> dict:
    """The loop the usual solution writes: one POST, then one single-row save, per row."""
    import requests
    from django.utils import timezone

    from delivery.transport import notification_payload
    from outbox.models import DailyNotification

    rows = list(
        DailyNotification.objects.filter(status="pending", next_attempt_at__isnull=False)
        .select_related("user")
        .order_by("id")[: args.naive_rows]
    )
    started = time.perf_counter()
    for notification in rows:
        response = requests.post(
            args.url,
            json=notification_payload(notification),
            headers={"Idempotency-Key": str(notification.id)},
            timeout=10,
        )
        notification.attempts += 1
        if response.ok:
            notification.status = "delivered"
            notification.delivered_at = timezone.now()
        notification.save()
    return {"rows": len(rows), "seconds": time.perf_counter() - started}


def child_claim_cost(args) -> dict:
    """Claim cost without, then with, ``final_rows`` final rows in the table (PostgreSQL)."""
    import datetime
    import statistics
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from accounts.models import User
    from delivery.claims import claim_statement, notifications_claim
    from outbox.models import DailyNotification

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        # Filling and vacuuming a million rows outlasts DATABASE_STATEMENT_TIMEOUT.
        cursor.execute("SET statement_timeout = 0")
    table = DailyNotification._meta.db_table
    users = args.due_rows
    now = timezone.now()
    day = now.date()
    for start in range(0, users, INSERT_CHUNK):
        User.objects.bulk_create(
            User(
                user_id=f"u{n:07d}",
                name=f"Bench User {n}",
                email=f"u{n}@example.com",
                signup_date=datetime.date(2024, 1, 1),
                age=20 + n % 60,
                height_cm=Decimal("170.0"),
                weight_kg=Decimal("70.0"),
                activity_level="Moderate",
                health_goals="Heart Health",
                rotation_slot=n % 3,
            )
            for n in range(start, min(start + INSERT_CHUNK, users))
        )

    def rows_insert(*, first_day: int, days: int, status: str, send_at, expires_at) -> None:
        """Per user, ``days`` rows from ``day + first_day``; status 'final' cycles the four."""
        status_sql = (
            "(ARRAY['delivered', 'failed', 'expired', 'cancelled'])[1 + (d + n) %% 4]"
            if status == "final"
            else "%(status)s"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {table} (id, user_id, date, category, title, body, generated_by,
                    status, attempts, last_error, send_at, expires_at, delivered_at,
                    created_at, updated_at)
                SELECT gen_random_uuid(), u.user_id, %(day)s::date + %(first)s + d,
                    (ARRAY['reminder', 'insight', 'tip'])[1 + (d + n) %% 3],
                    'Drink water', 'A glass of water before each meal helps.', 'offline',
                    {status_sql}, 1, '', %(send_at)s, %(expires_at)s, NULL, %(now)s, %(now)s
                FROM (SELECT user_id, row_number() OVER (ORDER BY user_id) AS n
                      FROM accounts_user) AS u
                CROSS JOIN generate_series(0, %(days)s - 1) AS d
                """,
                {
                    "day": day,
                    "first": first_day,
                    "days": days,
                    "status": status,
                    "send_at": send_at,
                    "expires_at": expires_at,
                    "now": now,
                },
            )

    hour = datetime.timedelta(hours=1)
    # Due now, and tomorrow's (pending, opening later: never read by a claim).
    rows_insert(
        first_day=0, days=1, status="pending", send_at=now - hour, expires_at=now + 12 * hour
    )
    rows_insert(
        first_day=1, days=1, status="pending", send_at=now + 20 * hour, expires_at=now + 33 * hour
    )
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET attempts = 0 WHERE status = 'pending'")

    def vacuum() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table}")

    def claim_buffers() -> dict:
        """Shared buffers one claim statement touches, run in a transaction rolled back.

        ``read``: finding and reading the rows (the UPDATE's input: the arms, the row
        and user lookups); ``total`` adds writing the new row versions and their
        index entries.
        """
        sql, params = claim_statement(
            now=timezone.now(), lease=timezone.now() + hour, limit=args.batch_size
        )
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
            cursor.execute("ROLLBACK")
        top = plan[0]["Plan"]
        [outer] = [node for node in top["Plans"] if node.get("Parent Relationship") == "Outer"]

        def blocks(node: dict) -> int:
            return node["Shared Hit Blocks"] + node["Shared Read Blocks"]

        return {"total": blocks(top), "read": blocks(outer)}

    def measure(final_rows: int) -> dict:
        claim_seconds: list[float] = []
        drains: list[float] = []
        buffers = claim_buffers()
        for _ in range(args.claim_repeats):
            drain_started = time.perf_counter()
            claimed = 0
            while True:
                started = time.perf_counter()
                claim = notifications_claim(batch_size=args.batch_size, lease_seconds=60)
                if not claim.notifications:
                    break
                claim_seconds.append(time.perf_counter() - started)
                claimed += len(claim.notifications)
            drains.append(time.perf_counter() - drain_started)
            if claimed != args.due_rows:
                raise SystemExit(f"a drain claimed {claimed} rows, not {args.due_rows}")
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET status = 'pending', lease_expires_at = NULL "
                    "WHERE status = 'sending'"
                )
            vacuum()
        return {
            "final_rows": final_rows,
            "claim_seconds": claim_seconds,
            "drains": drains,
            "buffers": buffers,
        }

    def summarized(*runs: dict) -> dict:
        """Runs of one case pooled: median claim and drain, the buffers of the first run."""
        claim_seconds = [value for run in runs for value in run["claim_seconds"]]
        drains = [value for run in runs for value in run["drains"]]
        return {
            "final_rows": runs[0]["final_rows"],
            "claim_ms": statistics.median(claim_seconds) * 1000,
            "claims": len(claim_seconds),
            "drain_s": statistics.median(drains),
            "drains": len(drains),
            "buffers": runs[0]["buffers"],
            "runs_claim_ms": [statistics.median(run["claim_seconds"]) * 1000 for run in runs],
        }

    vacuum()
    before = measure(0)
    started = time.perf_counter()
    days = -(-args.final_rows // users)
    rows_insert(
        first_day=-days - 1,
        days=days,
        status="final",
        send_at=now - 48 * hour,
        expires_at=now - 35 * hour,
    )
    insert_seconds = time.perf_counter() - started
    vacuum()
    final_rows = DailyNotification.objects.filter(
        status__in=DailyNotification.FINAL_STATUSES
    ).count()
    with_final = measure(final_rows)
    # The baseline again, the final rows deleted: the load of a shared machine drifts,
    # and a baseline on both sides of the measure keeps the ratio honest.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE status <> 'pending'")
    vacuum()
    after = measure(0)
    return {
        "without": summarized(before, after),
        "with": summarized(with_final),
        "insert_s": insert_seconds,
    }


if __name__ == "__main__":
    main()
