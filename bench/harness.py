"""What the benchmark scripts share: a fresh database per run, and steps run in their own process.

A step runs in a new process of the calling script (``--worker STEP``) so that its
figures are its work alone, and reports them as JSON on its last line of output.
Each script gives its worker a ``migrate`` step, which a fresh database runs first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


def run_worker(
    script: str, step: str, *, url: str, env: dict[str, str] | None = None, **options
) -> dict:
    """Run ``script --worker step`` in a fresh process; the figures of its last stdout line."""
    command = [sys.executable, script, "--worker", step]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    process_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.development",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        # Filling or purging millions of rows outlasts the production bound on a busy box.
        "DATABASE_STATEMENT_TIMEOUT": "0",
        **(env or {}),
    }
    done = subprocess.run(
        command, cwd=PROJECT_DIR, env=process_env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {step} failed:\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


class fresh_database:
    """A context manager yielding the ``DATABASE_URL`` of a new, migrated, empty database.

    A temporary SQLite file, or ``BENCH_DATABASE`` (default ``default_name``) dropped
    and re-created on the PostgreSQL server of ``BENCH_POSTGRES_URL``; dropped after.
    """

    def __init__(self, flavour: str, *, script: str, default_name: str) -> None:
        self.flavour = flavour
        self.script = script
        self.name = os.environ.get("BENCH_DATABASE", default_name)
        self.cleanup: list = []

    def __enter__(self) -> str:
        if self.flavour == "sqlite":
            directory = tempfile.TemporaryDirectory(prefix=f"{self.name}-")
            self.cleanup.append(directory.cleanup)
            url = f"sqlite:///{directory.name}/bench.sqlite3"
        elif self.flavour == "postgres":
            server = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_SERVER)
            postgres_drop(server=server, name=self.name)
            postgres_execute(server=server, sql=f"CREATE DATABASE {self.name}")
            self.cleanup.append(lambda: postgres_drop(server=server, name=self.name))
            url = server.rsplit("/", 1)[0] + f"/{self.name}"
        else:
            raise SystemExit(f"unknown database {self.flavour!r}: use sqlite or postgres")
        run_worker(self.script, "migrate", url=url)
        return url

    def __exit__(self, *exc_info: object) -> None:
        for step in reversed(self.cleanup):
            step()


def postgres_drop(*, server: str, name: str) -> None:
    postgres_execute(server=server, sql=f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def postgres_execute(*, server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql)
