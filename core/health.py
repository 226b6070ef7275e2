"""The health check that load balancers and Docker's HEALTHCHECK call.

It answers within ``HEALTHZ_TIMEOUT_SECONDS`` whatever the database does: the check
runs on a thread of its own, and a database that does not answer in time is a 503,
not a request left hanging until the server's worker timeout. The public answer says
what is wrong without naming the database's host, port or role; the detail goes to the log.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from core.logs import log_action

logger = logging.getLogger(__name__)

UNAVAILABLE = "database unavailable"


class _Check:
    """The outcome of one database check, filled in by its thread."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.pending_migrations: int | None = None
        self.error: str = ""

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            executor = MigrationExecutor(connection)
            self.pending_migrations = len(
                executor.migration_plan(executor.loader.graph.leaf_nodes())
            )
        except DatabaseError as error:
            self.error = str(error).strip() or repr(error)
        finally:
            # The thread's own connection: never left open for a thread that is gone.
            connection.close()
            self.done.set()


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and is migrated; 503 with the fix otherwise."""
    check = _Check()
    threading.Thread(target=check.run, name="healthz", daemon=True).start()
    if not check.done.wait(settings.HEALTHZ_TIMEOUT_SECONDS):
        log_action(
            logger,
            "core.healthz_failed",
            "the database did not answer in time",
            level=logging.WARNING,
            timeout_seconds=settings.HEALTHZ_TIMEOUT_SECONDS,
        )
        return JsonResponse({"status": "error", "database": UNAVAILABLE}, status=503)
    if check.error:
        log_action(logger, "core.healthz_failed", check.error, level=logging.WARNING)
        return JsonResponse({"status": "error", "database": UNAVAILABLE}, status=503)
    if check.pending_migrations:
        return JsonResponse(
            {
                "status": "error",
                "database": "ok",
                "migrations": f"{check.pending_migrations} pending: run `python manage.py migrate`",
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok"})
