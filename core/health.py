"""The health check that load balancers and Docker's HEALTHCHECK call."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and is migrated; 503 with the fix otherwise."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        return JsonResponse({"status": "error", "database": str(error).strip()}, status=503)
    if pending:
        return JsonResponse(
            {
                "status": "error",
                "database": "ok",
                "migrations": f"{len(pending)} pending: run `python manage.py migrate`",
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok"})
