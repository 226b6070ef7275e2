"""Benchmark ``notifications_generate`` against the database driver alone, and the OpenAI path.

    .venv/bin/python bench/generate.py                      # 100,000 users, both databases
    .venv/bin/python bench/generate.py --users 10000        # a quick run
    .venv/bin/python bench/generate.py --memory-check       # peak RSS at 100,000 vs 1,000,000 users
    .venv/bin/python bench/generate.py --parts memory --users 20000 --memory-users 200000
    .venv/bin/python bench/generate.py --databases sqlite   # skip PostgreSQL
    .venv/bin/python bench/generate.py --parts local --local-users 1000000   # local time

1. Offline generator, for each database: a fresh database (a temporary SQLite
   file; ``bench_generate`` dropped and re-created on the PostgreSQL server of
   ``BENCH_POSTGRES_URL``, default ``postgres://postgres@127.0.0.1:5432/postgres``),
   migrated, ``--users`` users inserted with the raw driver. Then, each in its own
   subprocess so the figures are the work alone: ``notifications_generate`` for
   one date (rows/s, peak RSS), and the raw driver inserting the very same rows
   into the emptied table (sqlite3 ``executemany``; psycopg ``executemany`` and
   ``COPY``), the two in turn ``--repeat`` times (3), the best of each kept: this
   machine's speed moves between runs. Target: generation at least 0.3x the raw
   driver's rows/s, and at least 0.5x raw ``COPY`` on PostgreSQL (where generation
   writes through ``COPY`` itself).
2. OpenAI generator against a local fake API (an asyncio server in its own
   process answering every chat completion after 200 ms with valid structured
   JSON), ``--openai-users`` users at ``--concurrency`` 32: users/s against the
   bound concurrency / latency = 160/s. Target: at least 80% of the bound.
3. With ``--memory-check``: generation's peak RSS at ``--users`` and at
   ``--memory-users`` (1,000,000) on SQLite. Target: within 20%.
5. With ``--parts batch`` (PostgreSQL, or the first of ``--databases``): the Batch API
   path without the network, at ``--batch-small-users`` and ``--batch-users``
   (1,000,000) users a day ahead. Preparing: ``batches_submit`` choosing the users,
   recording their requests and writing the JSONL files (each file "uploaded" to a
   stand-in that counts it, then deleted); parsing: an output file of one valid
   answer per request streamed through ``batch_lines_take`` into rows. Peak RSS of
   each step at both sizes (target: within 20%), and the parse-and-insert rows/s
   against offline generation on the same users in the same run (target: >= 0.5x).
4. ``local`` (local-time generation), for each database: ``--local-users`` users
   spread over 400 zones and 4 send times (1,600 groups). The plan (which users
   are in scope now) is timed and its queries counted; target: a few seconds, and
   a number of queries that does not grow with the groups. Then offline
   generation, each in its own subprocess on an emptied table: the previous code
   path (every user in key order for one date, no window; re-created here, as it
   was before local time), ``--date`` for every user, and the horizon at a fixed
   instant, then the horizon again (everything present). Target: ``--date``
   rows/s at least 0.9x the previous path's; peak RSS flat between a tenth of
   the users and all of them.

Peak memory is the generating subprocess's ``ru_maxrss``, Python and Django included.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

import harness

PROJECT_DIR = harness.PROJECT_DIR
DATE = datetime.date(2026, 11, 22)
# When the offline and OpenAI parts run: the date's windows (UTC users, 08:00) are open.
DATE_NOW = datetime.datetime(2026, 11, 22, 0, 0, tzinfo=datetime.UTC)
# When the local part's horizon run happens: some zones' windows open within 3 hours, some not.
HORIZON_NOW = datetime.datetime(2026, 11, 22, 6, 0, tzinfo=datetime.UTC)
LOCAL_ZONES = 400
LOCAL_SEND_TIMES = ("06:00", "07:30", "08:00", "09:15")
LOCAL_RATIO_TARGET = 0.9
PLAN_SECONDS_TARGET = 5.0
RATIO_TARGET = 0.3
# On PostgreSQL generation writes through COPY too: against raw COPY the bar is higher.
COPY_RATIO_TARGET = 0.5
OPENAI_TARGET = 0.8
FLATNESS_TARGET = 0.20
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
LOCAL_USER_COLUMNS = (*USER_COLUMNS, "send_time")


# --- the parent: fresh databases, subprocesses, the report ------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--openai-users", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument(
        "--parts",
        default="offline,openai",
        help="comma-separated parts to run: offline, openai, memory, local (default: offline,openai)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of generation and raw inserts (best of each)"
    )
    parser.add_argument("--memory-check", action="store_true", help="also run the memory part")
    parser.add_argument("--memory-users", type=int, default=1_000_000)
    parser.add_argument("--local-users", type=int, default=1_000_000)
    parser.add_argument("--batch-users", type=int, default=1_000_000)
    parser.add_argument("--batch-small-users", type=int, default=100_000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.worker:
        worker_main()
        return

    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if "batch" in parts:
        database = "postgres" if "postgres" in databases else databases[0]
        batch_bench(database=database, small=args.batch_small_users, large=args.batch_users)
    if args.memory_check:
        parts.add("memory")
    print(
        f"generate benchmark: {args.users:,} users, date {DATE}; load average now "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures are noisy when it is high)",
        flush=True,
    )
    if "offline" in parts:
        for database in databases:
            with fresh_database(database) as url:
                offline_compare(database=database, url=url, users=args.users, repeat=args.repeat)
    if "openai" in parts:
        with fresh_database("sqlite") as url:
            openai_throughput(
                url=url,
                users=args.openai_users,
                concurrency=args.concurrency,
                latency=args.latency_ms / 1000,
            )
    if "memory" in parts:
        memory_flatness(small=args.users, large=args.memory_users)
    if "local" in parts:
        for database in databases:
            local_time(database=database, users=args.local_users)


# Each step in a process of this script (``--worker``); ``migrate`` first in a fresh database.
run_worker = partial(harness.run_worker, __file__)
fresh_database = partial(harness.fresh_database, script=__file__, default_name="bench_generate")


def offline_compare(*, database: str, url: str, users: int, repeat: int) -> None:
    """Generation, then the raw driver on the same rows, ``repeat`` times in turn; the best of each.

    The machine's speed moves between runs: a round is both sides back to back, and
    the best of each side over the rounds is what the ratio compares.
    """
    print(f"\n[{database}] offline generator vs raw driver, {users:,} users", flush=True)
    run_worker("users", url=url, users=users)
    best_rate = 0.0
    best_raw: dict[str, float] = {}
    for round_number in range(1, repeat + 1):
        if round_number > 1:
            run_worker("empty", url=url)
        generated = run_worker("generate", url=url, generator="offline", concurrency=1)
        raw = run_worker("raw", url=url)
        rate = generated["rows"] / generated["seconds"]
        best_rate = max(best_rate, rate)
        print(
            f"  round {round_number}: notifications_generate {generated['rows']:,} rows in "
            f"{generated['seconds']:.2f}s = {rate:,.0f} rows/s (CPU {generated['cpu_seconds']:.2f}s), "
            f"peak RSS {generated['maxrss_mb']:.0f} MB",
            flush=True,
        )
        for method, seconds in raw["methods"].items():
            raw_rate = raw["rows"] / seconds
            best_raw[method] = max(best_raw.get(method, 0.0), raw_rate)
            print(
                f"  round {round_number}: raw {method:<22} {raw['rows']:,} rows in {seconds:.2f}s "
                f"(CPU {raw['cpu'][method]:.2f}s) = {raw_rate:,.0f} rows/s "
                f"-> ratio {rate / raw_rate:.2f}x",
                flush=True,
            )
    print(f"  best of {repeat}: notifications_generate {best_rate:,.0f} rows/s")
    for method, raw_rate in best_raw.items():
        ratio = best_rate / raw_rate
        target = COPY_RATIO_TARGET if "COPY" in method else RATIO_TARGET
        verdict = "ok" if ratio >= target else "BELOW TARGET"
        print(
            f"  best of {repeat}: raw {method:<22} {raw_rate:,.0f} rows/s -> ratio {ratio:.2f}x "
            f"(target >= {target}x: {verdict})"
        )


def openai_throughput(*, url: str, users: int, concurrency: int, latency: float) -> None:
    bound = concurrency / latency
    print(
        f"\n[openai] {users:,} users, concurrency {concurrency}, fake API latency "
        f"{latency * 1000:.0f} ms: bound {bound:.0f} users/s",
        flush=True,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            "fake-openai",
            "--latency-ms",
            str(round(latency * 1000)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())
        run_worker("users", url=url, users=users)
        generated = run_worker(
            "generate",
            url=url,
            generator="openai",
            concurrency=concurrency,
            env={
                "OPENAI_API_KEY": "bench",
                "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                "OPENAI_MAX_RETRIES": "0",
                "OPENAI_TIMEOUT_SECONDS": "10",
            },
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    rate = generated["rows"] / generated["seconds"]
    share = rate / bound
    verdict = "ok" if share >= OPENAI_TARGET else "BELOW TARGET"
    print(
        f"  {generated['rows']:,} rows ({generated['fallback']} fallback) in "
        f"{generated['seconds']:.2f}s = {rate:,.1f} users/s = {share:.0%} of the bound "
        f"(target >= {OPENAI_TARGET:.0%}: {verdict}), peak RSS {generated['maxrss_mb']:.0f} MB, "
        f"process CPU {generated['cpu_seconds']:.1f}s"
    )


def memory_flatness(*, small: int, large: int) -> None:
    print(f"\n[memory] peak RSS of generation at {small:,} vs {large:,} users (SQLite)", flush=True)
    peaks = {}
    for users in (small, large):
        with fresh_database("sqlite") as url:
            run_worker("users", url=url, users=users)
            generated = run_worker("generate", url=url, generator="offline", concurrency=1)
        peaks[users] = generated["maxrss_mb"]
        print(
            f"  {users:>9,} users: peak RSS {generated['maxrss_mb']:.0f} MB "
            f"({generated['rows'] / generated['seconds']:,.0f} rows/s)",
            flush=True,
        )
    growth = peaks[large] / peaks[small] - 1
    verdict = "ok" if growth <= FLATNESS_TARGET else "NOT FLAT"
    print(f"  growth {growth:+.1%} (target within {FLATNESS_TARGET:.0%}: {verdict})")


def local_time(*, database: str, users: int) -> None:
    groups = LOCAL_ZONES * len(LOCAL_SEND_TIMES)
    print(
        f"\n[{database}] local time: {users:,} users in {LOCAL_ZONES} zones x "
        f"{len(LOCAL_SEND_TIMES)} send times ({groups:,} groups)",
        flush=True,
    )
    peaks = {}
    for size in (max(users // 10, 1), users):
        with fresh_database(database) as url:
            run_worker("local-users", url=url, users=size)
            plan = run_worker("plan", url=url)
            if size == users:
                print(
                    f"  plan at {HORIZON_NOW:%H:%M} UTC: {plan['windows']:,} group windows, "
                    f"{plan['in_scope']:,} users in scope, {plan['seconds']:.2f}s, "
                    f"{plan['queries']} queries for {plan['groups']:,} groups "
                    f"(target <= {PLAN_SECONDS_TARGET:g}s, constant queries: "
                    f"{'ok' if plan['seconds'] <= PLAN_SECONDS_TARGET else 'SLOW'})"
                )
            previous = run_worker("local-generate", url=url, previous=1)
            run_worker("empty", url=url)
            dated = run_worker("local-generate", url=url, date=DATE.isoformat())
            run_worker("empty", url=url)
            horizon = run_worker("local-generate", url=url)
            again = run_worker("local-generate", url=url)
        peaks[size] = (previous["maxrss_mb"], dated["maxrss_mb"], horizon["maxrss_mb"])
        if size != users:
            continue
        base = previous["rows"] / previous["seconds"]
        for name, figures in (("previous path", previous), ("--date", dated), ("horizon", horizon)):
            rate = figures["rows"] / figures["seconds"]
            ratio = rate / base
            verdict = (
                ""
                if figures is previous
                else (
                    f" -> {ratio:.2f}x (target >= {LOCAL_RATIO_TARGET}x: "
                    f"{'ok' if ratio >= LOCAL_RATIO_TARGET else 'BELOW TARGET'})"
                )
            )
            print(
                f"  {name:<14} {figures['rows']:,} rows in {figures['seconds']:.2f}s "
                f"= {rate:,.0f} rows/s, peak RSS {figures['maxrss_mb']:.0f} MB{verdict}"
            )
        print(
            f"  horizon re-run (every row present): {again['existing']:,} users checked in "
            f"{again['seconds']:.2f}s, {again['rows']} rows written"
        )
    small, large = (peaks[size] for size in sorted(peaks))
    print(
        f"  peak RSS at {min(peaks):,} vs {max(peaks):,} users: previous "
        f"{small[0]:.0f}/{large[0]:.0f} MB, --date {small[1]:.0f}/{large[1]:.0f} MB "
        f"({large[1] / small[1] - 1:+.1%}), horizon {small[2]:.0f}/{large[2]:.0f} MB "
        f"({large[2] / small[2] - 1:+.1%}; target within {FLATNESS_TARGET:.0%})"
    )


# --- the workers: one step each, in their own process -----------------------


def worker_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--generator", default="offline")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--previous", type=int, default=0)
    parser.add_argument("--date", default=None)
    args = parser.parse_args()
    if args.worker == "fake-openai":
        asyncio.run(fake_openai_serve(latency=args.latency_ms / 1000))
        return
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    figures = {
        "migrate": worker_migrate,
        "users": lambda: worker_users(args.users),
        "generate": lambda: worker_generate(args.generator, args.concurrency),
        "raw": worker_raw,
        "local-users": lambda: worker_local_users(args.users),
        "plan": worker_plan,
        "local-generate": lambda: worker_local_generate(
            previous=bool(args.previous), date=args.date
        ),
        "empty": worker_empty,
        "analyze": worker_analyze,
        "batch-prepare": worker_batch_prepare,
        "batch-parse": worker_batch_parse,
    }[args.worker]()
    print(json.dumps(figures or {}))


def worker_migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def users_rows(count: int):
    """``count`` varied user rows, generated lazily (a million never sit in memory)."""
    randomness = random.Random(count)
    levels = ("Low", "Moderate", "High")
    goals = (
        "Weight Loss",
        "Heart Health",
        "Muscle Gain",
        "Overall Wellness",
        "Diabetes Management",
        "Endurance Training",
        "Healthy Aging",
        "Stress Reduction",
        "Weight Maintenance",
        "Flexibility",
    )
    for number in range(1, count + 1):
        yield (
            str(number),
            f"User {number}",
            f"user{number}@example.com",
            "2021-01-01",
            randomness.randint(18, 85),
            randomness.randint(150, 200),
            randomness.randint(45, 130),
            randomness.choice(levels),
            randomness.choice(goals),
            "",
            # Into a fresh table: round-robin from 0, as load_users gives the slots.
            (number - 1) % 3,
        )


def worker_users(count: int) -> None:
    from django.db import connection, transaction

    columns = ", ".join(USER_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        if connection.vendor == "postgresql":
            with raw.copy(f"COPY accounts_user ({columns}) FROM STDIN") as copy:
                for row in users_rows(count):
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(USER_COLUMNS))
            raw.executemany(
                f"INSERT INTO accounts_user ({columns}) VALUES ({marks})", users_rows(count)
            )


def worker_generate(generator_name: str, concurrency: int) -> dict:
    from core.commands import startup_objects_freeze
    from outbox.generation import notifications_generate
    from outbox.generators import generator_for

    startup_objects_freeze()  # as runpipeline generate does
    started, started_cpu = time.perf_counter(), time.process_time()
    summary = notifications_generate(
        date=DATE, now=DATE_NOW, generator=generator_for(generator_name), concurrency=concurrency
    )
    seconds = time.perf_counter() - started
    return {
        "cpu_seconds": time.process_time() - started_cpu,
        "rows": summary.created,
        "fallback": summary.fallback,
        "seconds": seconds,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def worker_raw() -> dict:
    """The generated rows read back, the table emptied, and the same rows inserted by the driver."""
    from django.db import connection, transaction

    from outbox.models import DailyNotification

    fields = DailyNotification._meta.concrete_fields
    columns = ", ".join(field.column for field in fields)
    table = DailyNotification._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table}")
        rows = cursor.fetchall()
    methods: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(name: str, insert) -> None:
        # Emptied as generation found it: a DELETE would leave the next method dead rows
        # and index entries to work around.
        worker_empty()
        started, started_cpu = time.perf_counter(), time.process_time()
        # The commit is part of the insert, as it is for generation.
        with transaction.atomic(), connection.cursor() as cursor:
            insert(cursor.cursor)
        methods[name] = time.perf_counter() - started
        cpu[name] = time.process_time() - started_cpu

    if connection.vendor == "postgresql":
        marks = ", ".join(["%s"] * len(fields))

        def executemany(raw) -> None:
            raw.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

        def copy(raw) -> None:
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as stream:
                for row in rows:
                    stream.write_row(row)

        timed("psycopg executemany", executemany)
        timed("psycopg COPY", copy)
    else:
        marks = ", ".join("?" * len(fields))

        def executemany(raw) -> None:
            raw.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

        timed("sqlite3 executemany", executemany)
    return {"rows": len(rows), "methods": methods, "cpu": cpu}


def local_zones() -> list[str]:
    """``LOCAL_ZONES`` IANA names, spread over the alphabet (and so over the world's offsets)."""
    import zoneinfo

    names = sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})
    step = len(names) / LOCAL_ZONES
    return [names[int(index * step)] for index in range(LOCAL_ZONES)]


def worker_local_users(count: int) -> None:
    """``count`` users, user n in zone n % 400 and send time (n // 400) % 4: every group full."""
    from django.db import connection, transaction

    zones = local_zones()
    columns = ", ".join(LOCAL_USER_COLUMNS)

    def rows():
        for number, row in enumerate(users_rows(count)):
            yield (
                *row[:9],
                zones[number % LOCAL_ZONES],
                row[10],
                LOCAL_SEND_TIMES[(number // LOCAL_ZONES) % len(LOCAL_SEND_TIMES)] + ":00",
            )

    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        if connection.vendor == "postgresql":
            with raw.copy(f"COPY accounts_user ({columns}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(LOCAL_USER_COLUMNS))
            raw.executemany(f"INSERT INTO accounts_user ({columns}) VALUES ({marks})", rows())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_user")


def worker_plan() -> dict:
    """The plan at ``HORIZON_NOW``: its time and its queries (a warm-up run first)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from outbox.planning import generation_plan, send_groups

    generation_plan(now=HORIZON_NOW)
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        plan = generation_plan(now=HORIZON_NOW)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "queries": len(queries.captured_queries),
        "groups": len(send_groups()),
        "windows": len(plan.windows),
        "in_scope": plan.users,
    }


def worker_local_generate(*, previous: bool, date: str | None) -> dict:
    from outbox.generation import notifications_generate
    from outbox.generators import OfflineGenerator

    started = time.perf_counter()
    if previous:
        created, existing = previous_path_generate(date=DATE)
    else:
        summary = notifications_generate(
            date=datetime.date.fromisoformat(date) if date else None,
            now=DATE_NOW if date else HORIZON_NOW,
            generator=OfflineGenerator(),
            concurrency=1,
        )
        created, existing = summary.created, summary.existing
    return {
        "rows": created,
        "existing": existing,
        "seconds": time.perf_counter() - started,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def previous_path_generate(*, date: datetime.date) -> tuple[int, int]:
    """Generation as it was before local time: every user in key order, one date, no window.

    Re-created here as the baseline (the same chunks, the same query of present
    rows, the same generator and the same insert), with the send time the model's
    default (now) as it then was.
    """
    from django.utils import timezone

    from accounts.models import User
    from outbox.categories import category_for
    from outbox.generation import CHUNK_SIZE
    from outbox.generators import OfflineGenerator, WriteRequest
    from outbox.generators.profile import PROFILE_FIELDS, UserProfile
    from outbox.models import DailyNotification
    from outbox.rows import NewRow, rows_insert
    from outbox.window import Window

    generator = OfflineGenerator()
    window = Window(date=date, send_at=timezone.now(), expires_at=None)
    created = existing = 0
    last_pk = None
    while True:
        users = User.objects.order_by("pk")
        if last_pk is not None:
            users = users.filter(pk__gt=last_pk)
        chunk = [UserProfile(*values) for values in users.values_list(*PROFILE_FIELDS)[:CHUNK_SIZE]]
        if not chunk:
            return created, existing
        upto = chunk[-1].user_id
        keys = User.objects.filter(pk__lte=upto)
        if last_pk is not None:
            keys = keys.filter(pk__gt=last_pk)
        have_row = set(
            DailyNotification.objects.filter(date=date, user__in=keys.values("pk"))
            .order_by()
            .values_list("user_id", flat=True)
        )
        last_pk = upto
        requests = [
            WriteRequest(
                user=user,
                category=category_for(rotation_slot=user.rotation_slot, date=date),
                date=date,
            )
            for user in chunk
            if user.user_id not in have_row
        ]
        rows = [
            NewRow(
                id=uuid.uuid4().hex,
                user_id=request.user.user_id,
                category=request.category,
                title=text.title,
                body=text.body,
                generated_by=text.generated_by,
                window=window,
            )
            for request, text in generator.write_many(requests=requests)
        ]
        inserted = rows_insert(rows=rows, written_at=timezone.now())
        created += len(inserted)
        existing += len(chunk) - len(inserted)


def worker_empty() -> None:
    """The outbox emptied as a fresh database has it (on PostgreSQL: no statistics either)."""
    from django.db import connection, transaction

    statement = "DELETE FROM outbox_dailynotification"
    if connection.vendor == "postgresql":
        statement = "TRUNCATE outbox_dailynotification CASCADE"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


# --- the Batch API path, without the network --------------------------------

# 06:00 UTC: the default 08:00 window of the next day opens 26 h later, a batch's date.
BATCH_NOW = datetime.datetime(2026, 11, 22, 6, 0, tzinfo=datetime.UTC)
BATCH_TARGET = 0.5


def batch_bench(*, database: str, small: int, large: int) -> None:
    print(f"\n[batch] prepare and parse {small:,} and {large:,} requests ({database})", flush=True)
    peaks: dict[str, list[float]] = {"prepare": [], "parse": []}
    for users in (small, large):
        with fresh_database(database) as url:
            run_worker("users", url=url, users=users)
            # As autovacuum would have by then: users loaded long before, requests a day before.
            run_worker("analyze", url=url)
            prepared = run_worker("batch-prepare", url=url)
            run_worker("analyze", url=url)
            parsed = run_worker("batch-parse", url=url)
            print(
                f"  {users:>9,} users: prepare {prepared['requests']:,} requests in "
                f"{prepared['batches']} files ({prepared['megabytes']:,.0f} MB) in "
                f"{prepared['seconds']:.1f}s = {prepared['requests'] / prepared['seconds']:,.0f}/s, "
                f"peak RSS {prepared['maxrss_mb']:.0f} MB; parse and insert {parsed['rows']:,} rows "
                f"in {parsed['seconds']:.1f}s = {parsed['rows'] / parsed['seconds']:,.0f} rows/s, "
                f"peak RSS {parsed['maxrss_mb']:.0f} MB",
                flush=True,
            )
            peaks["prepare"].append(prepared["maxrss_mb"])
            peaks["parse"].append(parsed["maxrss_mb"])
            if users == large:
                generated = run_worker("generate", url=url, generator="offline", concurrency=1)
                offline_rate = generated["rows"] / generated["seconds"]
                ratio = (parsed["rows"] / parsed["seconds"]) / offline_rate
                verdict = "ok" if ratio >= BATCH_TARGET else "BELOW TARGET"
                print(
                    f"  offline generation, same users: {offline_rate:,.0f} rows/s -> parse-and-insert "
                    f"ratio {ratio:.2f}x (target >= {BATCH_TARGET}x: {verdict})"
                )
    for step, (low, high) in peaks.items():
        growth = high / low - 1
        verdict = "ok" if growth <= FLATNESS_TARGET else "NOT FLAT"
        print(
            f"  {step}: peak RSS {low:.0f} MB -> {high:.0f} MB, {growth:+.1%} "
            f"(target within {FLATNESS_TARGET:.0%}: {verdict})"
        )


class CountingBatchApi:
    """Stands in for the Batch API: an upload is counted (size, lines), nothing is sent."""

    model = "gpt-4o-mini"

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    def upload(self, path: Path) -> str:
        self.files += 1
        self.bytes += path.stat().st_size
        return f"file-{self.files}"

    def create(self, *, input_file_id: str, metadata: dict[str, str]):
        from outbox.generators.batch import RemoteBatch

        return RemoteBatch(
            id=f"batch-{input_file_id}",
            status="validating",
            input_file_id=input_file_id,
            output_file_id="",
            error_file_id="",
            total=0,
            completed=0,
            failed=0,
        )


def worker_analyze() -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def worker_batch_prepare() -> dict:
    from outbox.batches import batches_submit

    api = CountingBatchApi()
    started = time.perf_counter()
    submitted = batches_submit(api=api, now=BATCH_NOW)
    return {
        "seconds": time.perf_counter() - started,
        "requests": submitted.requests,
        "batches": submitted.batches,
        "megabytes": api.bytes / 1e6,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def worker_batch_parse() -> dict:
    """Each batch's output file written (one valid answer per request), then timed through."""
    from outbox.batches import batch_lines_take
    from outbox.categories import category_for
    from outbox.generators.batch import custom_id_for
    from outbox.models import GenerationBatch, GenerationBatchRequest

    content = json.dumps(
        {"title": "Time for a walk", "message": "A ten-minute walk after lunch lifts energy."}
    )
    body = json.loads(completion_body())
    body["choices"][0]["message"]["content"] = content
    seconds = 0.0
    rows = 0
    for batch in GenerationBatch.objects.order_by("id"):
        requests = (
            GenerationBatchRequest.objects.filter(batch=batch)
            .values_list("user_id", "date", "user__rotation_slot")
            .iterator(chunk_size=10_000)
        )
        with tempfile.TemporaryFile() as output:
            for user_id, date, slot in requests:
                custom_id = custom_id_for(
                    user_id=user_id, date=date, category=category_for(rotation_slot=slot, date=date)
                )
                line = {
                    "id": f"req-{user_id}",
                    "custom_id": custom_id,
                    "response": {"status_code": 200, "request_id": "r", "body": body},
                    "error": None,
                }
                output.write(json.dumps(line).encode() + b"\n")
            output.seek(0)
            started = time.perf_counter()
            taken = batch_lines_take(batch=batch, lines=output)
            seconds += time.perf_counter() - started
            rows += taken.answered
    return {
        "seconds": seconds,
        "rows": rows,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# --- the fake OpenAI API ----------------------------------------------------


def completion_body() -> bytes:
    content = json.dumps(
        {"title": "Time for a walk", "message": "A ten-minute walk after lunch lifts energy."}
    )
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1763769600,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 120, "completion_tokens": 25, "total_tokens": 145},
        }
    ).encode()


async def fake_openai_serve(*, latency: float) -> None:
    """Answer every request after ``latency`` seconds, HTTP/1.1 keep-alive; print the port first."""
    body = completion_body()
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                headers = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in headers.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                await asyncio.sleep(latency)
                writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    main()
