"""Exit 0 when the PostgreSQL server of the given URL answers, 1 (with the reason) when not."""

from __future__ import annotations

import sys

import dj_database_url
import psycopg


def main(url: str) -> int:
    params = dj_database_url.parse(url)
    try:
        # The maintenance database always exists; the test database is created later.
        psycopg.connect(
            dbname="postgres",
            user=params["USER"] or None,
            password=params["PASSWORD"] or None,
            host=params["HOST"] or None,
            port=params["PORT"] or None,
            connect_timeout=3,
        ).close()
    except psycopg.Error as error:
        print(f"PostgreSQL at {params['HOST']}:{params['PORT']}: {error}".strip(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
