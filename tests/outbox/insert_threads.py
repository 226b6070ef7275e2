"""Whether a background insert thread (``outbox.rows.BackgroundInserts``) is still running."""

from __future__ import annotations

import threading

from outbox.rows import INSERT_THREAD_NAME


def insert_thread_alive() -> bool:
    return any(thread.name.startswith(INSERT_THREAD_NAME) for thread in threading.enumerate())
