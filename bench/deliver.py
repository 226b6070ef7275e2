"""Benchmark ``notifications_deliver`` against the raw HTTP limit and the naive loop.

    .venv/bin/python bench/deliver.py                     # 20,000 notifications, both databases
    .venv/bin/python bench/deliver.py --rows 2000         # a quick run
    .venv/bin/python bench/deliver.py --memory-check      # peak RSS at 20,000 vs 200,000 rows
    .venv/bin/python bench/deliver.py --databases sqlite  # skip PostgreSQL
    .venv/bin/python bench/deliver.py --sections claim    # the claim cost alone (PostgreSQL)
    .venv/bin/python bench/deliver.py --sections claim --final-rows 100000  # a quick one

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
These two settings run the ``requests`` transport, whose raw limit they compare with.

The asyncio sections (``--sections``; the two settings above are ``requests``):

- ``aiohttp``: no added latency; the raw limit of the same client library (an
  ``aiohttp`` loop, one session, ``--aio-concurrency`` requests in flight, no
  database, in a process of its own) against ``notifications_deliver`` with the
  default transport at the same concurrency, alternated ``--repeat`` times (the
  best of each kept: the machine's load moves). Target: at least 0.7x raw.
- ``latency``: 200 ms added latency, 1,000 in flight: raw aiohttp at 1,000 against
  delivery at ``--concurrency 1000``, and the ``requests`` transport at 16, 64 and
  256 threads (on ``--requests-rows`` rows). Targets: at least 0.7x raw, at least 5x
  the best ``requests`` figure.
- ``workers``: PostgreSQL, 200 ms latency, ``--worker-concurrency`` in flight per
  worker: four ``notifications_deliver`` processes started together against one.
  Target: four at least 1.5x one.
- ``memory``: peak RSS of delivery (SQLite, no latency) at ``--rows`` and
  ``--memory-rows``, at ``--aio-concurrency`` and at 2,000 in flight. Target: within
  20% at each concurrency.
- ``sweep``: delivery at concurrency 16, 64, 256 and 1,000 against 0, 50 and 200 ms
  of endpoint latency (the figures behind the default concurrency; no target).

    .venv/bin/python bench/deliver.py --sections aiohttp,latency,workers,memory --rows 20000

The ``claim`` section (PostgreSQL): a fresh database
with ``--due-rows`` users, each with one row due now and one opening tomorrow (which
no claim may read). ``notifications_claim`` drains the due rows in batches of 500
(``--batch-size``), ``--claim-repeats`` times (the rows are put back and the table
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
CLAIM_COST_TARGET = 0.20
# Rows per claim in the claim-cost section unless --batch-size says otherwise.
CLAIM_BATCH_SIZE = 500
RAW_TARGET = 0.7
NAIVE_TARGET = 10.0
FLATNESS_TARGET = 0.20
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
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="rows per claim (default: the worker's own, 8 per request in flight up to 2,000)",
    )
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--memory-check", action="store_true")
    parser.add_argument("--memory-rows", type=int, default=200_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument(
        "--sections",
        default="requests",
        help="comma-separated: requests (the two settings above), aiohttp, latency, workers, memory, claim",
    )
    parser.add_argument("--aio-concurrency", type=int, default=256)
    parser.add_argument("--final-rows", type=int, default=1_000_000)
    parser.add_argument("--due-rows", type=int, default=10_000)
    parser.add_argument("--claim-repeats", type=int, default=5)
    parser.add_argument("--database-name", default=DEFAULT_BENCH_DB)
    parser.add_argument(
        "--repeat", type=int, default=2, help="rounds of raw aiohttp and delivery (best of each)"
    )
    parser.add_argument("--requests-rows", type=int, default=4000)
    parser.add_argument("--worker-concurrency", type=int, default=64)
    parser.add_argument("--transport", default="requests", help=argparse.SUPPRESS)
    parser.add_argument("--latency-ms", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "raw-aiohttp":
        sys.path.insert(0, str(PROJECT_DIR))
        print(json.dumps(raw_aiohttp(url=args.url, rows=args.rows, concurrency=args.concurrency)))
        return
    if args.child:
        child_main(args)
        return
    sections = {name.strip() for name in args.sections.split(",") if name.strip()}
    global BENCH_DB
    BENCH_DB = args.database_name

    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    print(
        f"deliver benchmark: {args.rows:,} notifications, "
        f"batch size {args.batch_size or 'the default'}, "
        f"databases {', '.join(databases)}, {os.cpu_count()} CPUs (client and endpoint share them)"
    )
    verdicts: list[tuple[str, bool]] = []
    if "requests" in sections:
        for setting in SETTINGS:
            verdicts += run_setting(setting, args=args, databases=databases)
        if args.memory_check:
            verdicts += run_memory_check(args)
    if "aiohttp" in sections:
        verdicts += run_aiohttp_section(args, databases=databases)
    if "latency" in sections:
        verdicts += run_latency_section(args, databases=databases)
    if "workers" in sections:
        verdicts += run_workers_section(args)
    if "memory" in sections:
        verdicts += run_asyncio_memory_section(args)
    if "sweep" in sections:
        run_concurrency_sweep(args)
    if "claim" in sections:
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


# --- the asyncio sections ----------------------------------------------------

AIO_RAW_TARGET = 0.7
REQUESTS_TARGET = 5.0
WORKERS_TARGET = 1.5
LATENCY_MS = 200
LATENCY_CONCURRENCY = 1000
MEMORY_IN_FLIGHT = 2000
REQUESTS_THREADS = (16, 64, 256)


def filled_database(database: str, *, url: str, rows: int) -> str:
    """A fresh database with ``rows`` pending notifications; returns its DATABASE_URL."""
    database_url = database_create(database)
    child("setup", database_url=database_url, url=url, rows=rows, naive_rows=0)
    return database_url


def deliver_once(
    database: str,
    *,
    url: str,
    rows: int,
    concurrency: int,
    transport: str,
    batch_size: int | None,
) -> dict:
    """One ``notifications_deliver`` run in a fresh process on a fresh database; rows/s and RSS."""
    database_url = filled_database(database, url=url, rows=rows)
    try:
        endpoint_reset(url)
        result = child(
            "deliver",
            database_url=database_url,
            url=url,
            rows=rows,
            concurrency=concurrency,
            batch_size=batch_size,
            transport=transport,
        )
        report = endpoint_report(url)
        endpoint_reset(url)
    finally:
        database_drop(database, database_url)
    result["rate"] = result["delivered"] / result["seconds"]
    result["once"] = result["delivered"] == rows and report["duplicates"] == 0
    result["unique"] = report["unique"]
    result["duplicates"] = report["duplicates"]
    return result


def raw_aiohttp_limit(*, url: str, rows: int, concurrency: int) -> float:
    """The raw aiohttp limit, measured in a process of its own (no Django, no database)."""
    command = [sys.executable, __file__, "--child", "raw-aiohttp", "--url", url]
    command += ["--rows", str(rows), "--concurrency", str(concurrency)]
    completed = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"raw aiohttp run failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])["rate"]


def raw_aiohttp(*, url: str, rows: int, concurrency: int) -> dict:
    """POSTs/s of ``rows`` similar requests from one aiohttp session, ``concurrency`` at once."""
    import asyncio

    import aiohttp

    async def run() -> float:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(rows):
            queue.put_nowait(number)
        statuses: list[int] = []
        connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def consume() -> None:
                while not queue.empty():
                    number = queue.get_nowait()
                    body, headers = raw_request(number)
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        statuses.append(response.status)

            started = time.perf_counter()
            await asyncio.gather(*(consume() for _ in range(concurrency)))
            seconds = time.perf_counter() - started
        if any(status != 200 for status in statuses):
            raise SystemExit("the raw aiohttp run got non-200 answers")
        return rows / seconds

    # The worker's own kind of loop (uvloop when installed), so the two compare like with like.
    from delivery.transport.loop import event_loop_new

    loop = event_loop_new()
    try:
        return {"rate": loop.run_until_complete(run())}
    finally:
        loop.close()


def raw_request(number: int) -> tuple[bytes, dict[str, str]]:
    """A body and headers like the worker's, for the raw limits."""
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
    return body, {"Content-Type": "application/json", "Idempotency-Key": key}


def delivery_line(label: str, result: dict) -> str:
    return (
        f"  {label:<44} {result['rate']:9.0f} rows/s ({result['delivered']:,} delivered in "
        f"{result['seconds']:.2f}s, peak RSS {result['maxrss_mb']:.0f} MB; endpoint: "
        f"{result['unique']:,} unique, {result['duplicates']} duplicates)"
    )


def raw_and_delivery(args, *, database: str, url: str, concurrency: int) -> tuple[float, dict]:
    """Raw aiohttp, then delivery, ``--repeat`` times in turn; the best of each.

    The machine is shared and its load moves within seconds: alternating the two and
    keeping each one's best compares them at their least disturbed.
    """
    raws, results = [], []
    for round_number in range(1, args.repeat + 1):
        raws.append(raw_aiohttp_limit(url=url, rows=args.rows, concurrency=concurrency))
        endpoint_reset(url)
        results.append(
            deliver_once(
                database,
                url=url,
                rows=args.rows,
                concurrency=concurrency,
                transport="aiohttp",
                batch_size=args.batch_size,
            )
        )
        print(
            f"  {database:<8} round {round_number}: raw aiohttp {raws[-1]:.0f} rows/s, "
            f"notifications_deliver {results[-1]['rate']:.0f} rows/s"
        )
    best = max(results, key=lambda result: result["rate"])
    best["once"] = all(result["once"] for result in results)
    return max(raws), best


def run_aiohttp_section(args, *, databases: list[str]) -> list[tuple[str, bool]]:
    concurrency = args.aio_concurrency
    print(f"\n== aiohttp, no added latency, concurrency {concurrency} ==")
    verdicts = []
    with mock_endpoint(latency_ms=0) as url:
        for database in databases:
            raw, result = raw_and_delivery(
                args, database=database, url=url, concurrency=concurrency
            )
            ratio = result["rate"] / raw
            print(f"  {database:<8} raw aiohttp (one session, no db), best:{raw:9.0f} rows/s")
            print(delivery_line(f"{database:<8} notifications_deliver (aiohttp):", result))
            print(f"  {database:<8} ratio: {ratio:.2f}x the raw aiohttp limit")
            verdicts += [
                (
                    f"aiohttp, {database}: {ratio:.2f}x raw aiohttp >= {AIO_RAW_TARGET}",
                    ratio >= AIO_RAW_TARGET,
                ),
                (f"aiohttp, {database}: every row delivered once", result["once"]),
            ]
    return verdicts


def run_latency_section(args, *, databases: list[str]) -> list[tuple[str, bool]]:
    print(
        f"\n== {LATENCY_MS} ms latency, {LATENCY_CONCURRENCY:,} in flight "
        f"(requests transport on {args.requests_rows:,} rows) =="
    )
    verdicts = []
    with mock_endpoint(latency_ms=LATENCY_MS) as url:
        for database in databases:
            raw, result = raw_and_delivery(
                args, database=database, url=url, concurrency=LATENCY_CONCURRENCY
            )
            print(
                f"  {database:<8} raw aiohttp at {LATENCY_CONCURRENCY:,}, best:{raw:16.0f} rows/s"
            )
            print(delivery_line(f"{database:<8} notifications_deliver (aiohttp):", result))
            threaded = {}
            for threads in REQUESTS_THREADS:
                threaded[threads] = deliver_once(
                    database,
                    url=url,
                    rows=args.requests_rows,
                    concurrency=threads,
                    transport="requests",
                    batch_size=args.batch_size,
                )
                print(
                    delivery_line(
                        f"{database:<8} requests transport, {threads} threads:", threaded[threads]
                    )
                )
            best_threads = max(threaded, key=lambda n: threaded[n]["rate"])
            best = threaded[best_threads]["rate"]
            raw_ratio = result["rate"] / raw
            requests_ratio = result["rate"] / best
            print(
                f"  {database:<8} ratios: {raw_ratio:.2f}x raw aiohttp, {requests_ratio:.1f}x the "
                f"requests transport at its best ({best_threads} threads)"
            )
            verdicts += [
                (
                    f"{LATENCY_MS} ms, {database}: {raw_ratio:.2f}x raw aiohttp >= {AIO_RAW_TARGET}",
                    raw_ratio >= AIO_RAW_TARGET,
                ),
                (
                    f"{LATENCY_MS} ms, {database}: {requests_ratio:.1f}x requests at {best_threads} "
                    f"threads >= {REQUESTS_TARGET:.0f}",
                    requests_ratio >= REQUESTS_TARGET,
                ),
                (f"{LATENCY_MS} ms, {database}: every row delivered once", result["once"]),
            ]
    return verdicts


SWEEP_CONCURRENCY = (16, 64, 256, 1000)
SWEEP_LATENCIES_MS = (0, 50, 200)


def run_concurrency_sweep(args) -> None:
    """Delivery (SQLite, aiohttp) at each concurrency and endpoint latency: behind the default."""
    print("\n== concurrency sweep: notifications_deliver rows/s, SQLite, aiohttp ==")
    print("  latency  " + "".join(f"{c:>10}" for c in SWEEP_CONCURRENCY))
    for latency in SWEEP_LATENCIES_MS:
        with mock_endpoint(latency_ms=latency) as url:
            rates = [
                deliver_once(
                    "sqlite",
                    url=url,
                    rows=args.rows,
                    concurrency=concurrency,
                    transport="aiohttp",
                    batch_size=args.batch_size,
                )["rate"]
                for concurrency in SWEEP_CONCURRENCY
            ]
        print(f"  {latency:>4} ms  " + "".join(f"{rate:>10.0f}" for rate in rates))


def run_workers_section(args) -> list[tuple[str, bool]]:
    concurrency = args.worker_concurrency
    print(
        f"\n== PostgreSQL, {LATENCY_MS} ms latency, {concurrency} in flight per worker: "
        "4 worker processes against 1 =="
    )
    rates = {}
    with mock_endpoint(latency_ms=LATENCY_MS) as url:
        for workers in (1, 4):
            database_url = filled_database("postgres", url=url, rows=args.rows)
            try:
                endpoint_reset(url)
                rate, delivered = workers_run(
                    workers, database_url=database_url, url=url, concurrency=concurrency, args=args
                )
                report = endpoint_report(url)
                endpoint_reset(url)
            finally:
                database_drop("postgres", database_url)
            rates[workers] = rate
            print(
                f"  {workers} worker{'s' if workers > 1 else ' '}: {rate:9.0f} rows/s "
                f"({delivered:,} delivered; endpoint: {report['unique']:,} unique, "
                f"{report['duplicates']} duplicates)"
            )
    ratio = rates[4] / rates[1]
    print(f"  ratio: {ratio:.2f}x")
    return [(f"4 workers: {ratio:.2f}x one worker >= {WORKERS_TARGET}", ratio >= WORKERS_TARGET)]


def workers_run(
    workers: int, *, database_url: str, url: str, concurrency: int, args
) -> tuple[float, int]:
    """Start ``workers`` delivery processes, release them together, return rows/s over the whole run."""
    command = [
        sys.executable,
        __file__,
        "--child",
        "deliver-together",
        "--database-url",
        database_url,
    ]
    command += ["--url", url, "--concurrency", str(concurrency)]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    command += ["--transport", "aiohttp"]
    processes = [
        subprocess.Popen(
            command, cwd=PROJECT_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(workers)
    ]
    for process in processes:
        if process.stdout.readline().strip() != "ready":
            raise SystemExit("a worker did not start")
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            raise SystemExit("a worker failed")
        results.append(json.loads(out.strip().splitlines()[-1]))
    seconds = max(r["ended"] for r in results) - min(r["started"] for r in results)
    delivered = sum(r["delivered"] for r in results)
    return delivered / seconds, delivered


def run_asyncio_memory_section(args) -> list[tuple[str, bool]]:
    """Peak RSS at ``--rows`` and ``--memory-rows``, at the default concurrency and at 2,000 in flight."""
    print("\n== memory: peak RSS of notifications_deliver (aiohttp), SQLite, no added latency ==")
    verdicts = []
    with mock_endpoint(latency_ms=0) as url:
        for concurrency in (args.aio_concurrency, MEMORY_IN_FLIGHT):
            peaks = {}
            for rows in (args.rows, args.memory_rows):
                result = deliver_once(
                    "sqlite",
                    url=url,
                    rows=rows,
                    concurrency=concurrency,
                    transport="aiohttp",
                    batch_size=args.batch_size,
                )
                peaks[rows] = result["maxrss_mb"]
                print(
                    f"  {rows:>9,} rows, concurrency {concurrency:>5,}: peak RSS "
                    f"{result['maxrss_mb']:.1f} MB, {result['rate']:.0f} rows/s"
                )
            small, large = peaks[args.rows], peaks[args.memory_rows]
            growth = large / small - 1
            verdicts.append(
                (
                    f"concurrency {concurrency:,}: peak RSS {small:.0f} MB at {args.rows:,} vs "
                    f"{large:.0f} MB at {args.memory_rows:,} rows: {growth:+.0%} "
                    f"(flat within {FLATNESS_TARGET:.0%})",
                    growth <= FLATNESS_TARGET,
                )
            )
    return verdicts


def run_claim_cost(args) -> list[tuple[str, bool]]:
    print(
        f"\n== claim cost on PostgreSQL: {args.due_rows:,} due rows (and as many opening "
        f"tomorrow), batch size {args.batch_size or CLAIM_BATCH_SIZE}, without and with "
        f"{args.final_rows:,} "
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
            batch_size=args.batch_size or CLAIM_BATCH_SIZE,
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
        body, headers = raw_request(number)
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
        if value is not None:
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
    os.environ["NOTIFICATIONS_TRANSPORT"] = args.transport
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Measure as production runs: no per-query bookkeeping of DEBUG.
    os.environ.setdefault("DJANGO_DEBUG", "false")
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    result = {
        "setup": child_setup,
        "deliver": child_deliver,
        "naive": child_naive,
        "deliver-together": child_deliver_together,
        "claimcost": child_claim_cost,
    }[args.child](args)
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


def child_deliver_together(args) -> dict:
    """One of several workers: set up, say ``ready``, wait for ``go``, deliver; wall-clock times."""
    from django.db import connection

    from delivery.worker import notifications_deliver

    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.time()
    summary = notifications_deliver(concurrency=args.concurrency, batch_size=args.batch_size)
    return {"started": started, "ended": time.time(), "delivered": summary.delivered}


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
