"""Benchmark ``load_users`` against the database driver alone, on SQLite and PostgreSQL.

    .venv/bin/python bench/load_users.py                 # 200,000 rows, both databases
    .venv/bin/python bench/load_users.py --rows 20000    # a quick run
    .venv/bin/python bench/load_users.py --memory-check  # 200,000 vs 1,000,000 rows, peak RSS

For each database: a fresh database (a temporary SQLite file; ``bench_load_users``
dropped and re-created on the PostgreSQL server of ``BENCH_POSTGRES_URL``, default
``postgres://postgres@127.0.0.1:5432/postgres``), migrated; then, each in its own
subprocess so the figures are the work alone: the raw driver inserting the file's
rows (sqlite3 ``executemany``; psycopg ``executemany`` and ``COPY``), the table
emptied, and ``users_load_csv`` loading the same file. Peak memory is the loading
subprocess's ``ru_maxrss`` (which includes Python and Django, about 50 MB).

Targets: load_users at least 0.3x the raw driver's rows/s (0.35x raw ``COPY``, which
load_users itself goes through on PostgreSQL); peak memory under
150 MB and the same within 20% from 200,000 to 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "bench" / ".data"
# The PostgreSQL database the bench drops and re-creates (``BENCH_DATABASE`` to choose another).
BENCH_DB = os.environ.get("BENCH_DATABASE", "bench_load_users")
COLUMNS = (
    "user_id",
    "name",
    "email",
    "signup_date",
    "age",
    "height_cm",
    "weight_kg",
    "activity_level",
    "health_goals",
)
INSERT_COLUMNS = ", ".join(COLUMNS) + ", timezone, rotation_slot"
MEMORY_TARGET_MB = 150
RATIO_TARGET = 0.3
# On PostgreSQL load_users writes through COPY too: against raw COPY the bar is this.
COPY_RATIO_TARGET = 0.35
FLATNESS_TARGET = 0.20


def csv_generate(rows: int) -> Path:
    """A users CSV of ``rows`` valid rows (cached under bench/.data)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"users-{rows}.csv"
    if path.exists():
        return path
    randomness = random.Random(rows)
    first = ("Alice", "Bob", "Zoë", "Émile", "Hannah", "Ian", "Julia", "Ögün", "Chen", "Ana")
    last = ("Smith", "Johnson", "Brown", "Prince", "Wright", "Green", "Hill", "Lee", "Müller")
    levels = ("Low", "Moderate", "High")
    goals = ("Weight Loss", "Heart Health", "Muscle Gain", "Stress Reduction", "Flexibility")
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for number in range(1, rows + 1):
            writer.writerow(
                (
                    number,
                    f"{randomness.choice(first)} {randomness.choice(last)}",
                    f"user{number}@example.com",
                    f"20{randomness.randint(10, 25)}-{randomness.randint(1, 12):02d}-{randomness.randint(1, 28):02d}",
                    randomness.randint(18, 90),
                    randomness.randint(140, 210),
                    f"{randomness.randint(400, 1400) / 10:.1f}",
                    randomness.choice(levels),
                    randomness.choice(goals),
                )
            )
    partial.rename(path)
    return path


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- children: each does one measured thing and prints one JSON line ----------


def child_load(database_url: str, csv_path: str) -> dict:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_DEBUG"] = "false"  # no query log: measure what production runs
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.development")
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from accounts.csv_import import users_load_csv

    before = peak_rss_mb()
    started = time.perf_counter()
    report = users_load_csv(path=csv_path)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "summary": report.summary(),
        "rows": report.created + report.updated + report.unchanged,
        "rss_before_mb": before,
        "peak_rss_mb": peak_rss_mb(),
    }


def _csv_rows(csv_path: str):
    with open(csv_path, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file)
        next(reader)
        # Into an empty table: the rotation slots go round-robin from 0, as load_users gives them.
        for number, row in enumerate(reader):
            yield (*row, "", number % 3)


def child_raw_sqlite(database_path: str, csv_path: str) -> dict:
    import sqlite3

    connection = sqlite3.connect(database_path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    placeholders = ", ".join("?" * (len(COLUMNS) + 2))
    started = time.perf_counter()
    with connection:
        connection.executemany(
            f"INSERT INTO accounts_user ({INSERT_COLUMNS}) VALUES ({placeholders})",
            _csv_rows(csv_path),
        )
    seconds = time.perf_counter() - started
    rows = connection.execute("SELECT count(*) FROM accounts_user").fetchone()[0]
    connection.execute("DELETE FROM accounts_user")
    connection.commit()
    connection.close()
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def child_raw_postgresql(database_url: str, csv_path: str, method: str) -> dict:
    import psycopg

    with psycopg.connect(database_url) as connection:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            if method == "copy":
                with cursor.copy(f"COPY accounts_user ({INSERT_COLUMNS}) FROM STDIN") as copy:
                    for row in _csv_rows(csv_path):
                        copy.write_row(row)
            else:
                placeholders = ", ".join(["%s"] * (len(COLUMNS) + 2))
                cursor.executemany(
                    f"INSERT INTO accounts_user ({INSERT_COLUMNS}) VALUES ({placeholders})",
                    _csv_rows(csv_path),
                )
        connection.commit()
        seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            rows = cursor.execute("SELECT count(*) FROM accounts_user").fetchone()[0]
            cursor.execute("TRUNCATE accounts_user CASCADE")
        connection.commit()
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def child_run(*args: str) -> dict:
    """Run this script as a child doing one measured thing; its JSON result."""
    completed = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"child {args[0]} failed with status {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- databases --------------------------------------------------------------


def migrate(database_url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=PROJECT_DIR,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "settings.development",
        },
        check=True,
    )


def postgresql_fresh(server_url: str) -> str | None:
    """Drop and create the bench database; its URL, or None when the server is unreachable."""
    import psycopg

    try:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {BENCH_DB}")
    except psycopg.OperationalError as error:
        print(f"PostgreSQL skipped: {error}".strip())
        return None
    return server_url.rsplit("/", 1)[0] + f"/{BENCH_DB}"


def postgresql_drop(server_url: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds else float("inf")


def bench_sqlite(csv_path: Path, rows: int) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        database_path = Path(directory) / "bench.sqlite3"
        database_url = f"sqlite:///{database_path}"
        migrate(database_url)
        raw = child_run("raw-sqlite", str(database_path), str(csv_path))
        load = child_run("load", database_url, str(csv_path))
    report("SQLite", rows, load, {"sqlite3 executemany": raw})
    return load


def bench_postgresql(csv_path: Path, rows: int, server_url: str) -> dict | None:
    database_url = postgresql_fresh(server_url)
    if database_url is None:
        return None
    try:
        migrate(database_url)
        raws = {
            "psycopg executemany": child_run(
                "raw-postgresql", database_url, str(csv_path), "executemany"
            ),
            "psycopg COPY": child_run("raw-postgresql", database_url, str(csv_path), "copy"),
        }
        load = child_run("load", database_url, str(csv_path))
    finally:
        postgresql_drop(server_url)
    report("PostgreSQL", rows, load, raws)
    return load


def report(database: str, rows: int, load: dict, raws: dict[str, dict]) -> None:
    load_rate = rate(load["rows"], load["seconds"])
    print(f"\n== {database}, {rows:,} rows ==")
    print(
        f"  load_users            {load['seconds']:7.2f} s  {load_rate:10,.0f} rows/s  "
        f"peak RSS {load['peak_rss_mb']:6.1f} MB (after start-up {load['rss_before_mb']:.1f} MB)"
        f"  [{load['summary']}]"
    )
    memory_ok = "OK" if load["peak_rss_mb"] < MEMORY_TARGET_MB else "MISSED"
    for name, raw in raws.items():
        raw_rate = rate(raw["rows"], raw["seconds"])
        ratio = load_rate / raw_rate
        target = COPY_RATIO_TARGET if "COPY" in name else RATIO_TARGET
        verdict = "OK" if ratio >= target else "MISSED"
        print(
            f"  {name:<21} {raw['seconds']:7.2f} s  {raw_rate:10,.0f} rows/s  "
            f"ratio load_users/raw = {ratio:.2f}x (target >= {target}x: {verdict})"
        )
    print(f"  peak memory target < {MEMORY_TARGET_MB} MB: {memory_ok}")


def memory_check(sizes: list[int], databases: list[str], server_url: str) -> None:
    peaks: dict[str, list[float]] = {}
    for rows in sizes:
        csv_path = csv_generate(rows)
        if "sqlite" in databases:
            peaks.setdefault("SQLite", []).append(bench_sqlite(csv_path, rows)["peak_rss_mb"])
        if "postgresql" in databases:
            load = bench_postgresql(csv_path, rows, server_url)
            if load is not None:
                peaks.setdefault("PostgreSQL", []).append(load["peak_rss_mb"])
    print("\n== peak memory by file size ==")
    for database, values in peaks.items():
        growth = values[-1] / values[0] - 1
        verdict = "OK" if abs(growth) <= FLATNESS_TARGET else "MISSED"
        figures = ", ".join(
            f"{rows:,} rows: {mb:.1f} MB" for rows, mb in zip(sizes, values, strict=False)
        )
        print(f"  {database}: {figures}; change {growth:+.1%} (target within 20%: {verdict})")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, *args = sys.argv[2:]
        if kind == "load":
            result = child_load(*args)
        elif kind == "raw-sqlite":
            result = child_raw_sqlite(*args)
        else:
            result = child_raw_postgresql(*args)
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--memory-check",
        action="store_true",
        help="compare peak memory at --rows and 5 times --rows (default 200,000 and 1,000,000)",
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    arguments = parser.parse_args()
    databases = arguments.databases.split(",")
    server_url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if arguments.memory_check:
        memory_check([arguments.rows, arguments.rows * 5], databases, server_url)
        return
    csv_path = csv_generate(arguments.rows)
    if "sqlite" in databases:
        bench_sqlite(csv_path, arguments.rows)
    if "postgresql" in databases:
        bench_postgresql(csv_path, arguments.rows, server_url)


if __name__ == "__main__":
    main()
