"""The benchmark's URLconf: the project's URLs plus bare views (``bench/api.py`` only).

Each bare view answers the same JSON as its API endpoint from one query, with nothing
around it but Django's middleware: no DRF, no key, no count, no headers.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def _iso(value) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def bare_history(request: HttpRequest, user_id: str) -> JsonResponse:
    """A user's notifications: ``page_size`` rows after ``cursor`` (or at ``page``), one query."""
    from outbox.models import DailyNotification

    size = int(request.GET.get("page_size", 50))
    rows = DailyNotification.objects.filter(user_id=user_id).order_by("-date")
    cursor = request.GET.get("cursor")
    if cursor:
        rows = rows.filter(date__lt=cursor.removeprefix("after:"))[:size]
    else:
        start = (int(request.GET.get("page", 1)) - 1) * size
        rows = rows[start : start + size]
    fields = (
        "id", "date", "category", "title", "body", "status", "attempts", "generated_by",
        "send_at", "expires_at", "delivered_at", "last_error",
    )  # fmt: skip
    data = [
        {
            "id": str(row["id"]),
            "date": row["date"].isoformat(),
            "category": row["category"],
            "title": row["title"],
            "message": row["body"],
            "status": row["status"],
            "attempts": row["attempts"],
            "generated_by": row["generated_by"],
            "send_at": _iso(row["send_at"]),
            "expires_at": _iso(row["expires_at"]),
            "delivered_at": _iso(row["delivered_at"]),
            "last_error": row["last_error"],
        }
        for row in rows.values(*fields)
    ]
    return JsonResponse(data, safe=False)


def bare_users(request: HttpRequest) -> JsonResponse:
    """Users whose name contains ``name``, the first ``page_size``, one query."""
    from accounts.lookup import profile_number, user_list
    from accounts.models import CSV_FIELDS

    size = int(request.GET.get("page_size", 50))
    rows = user_list(name=request.GET.get("name")).values(*CSV_FIELDS)[:size]
    data = [
        {
            **row,
            "signup_date": row["signup_date"].isoformat(),
            "height_cm": profile_number(row["height_cm"]),
            "weight_kg": profile_number(row["weight_kg"]),
        }
        for row in rows
    ]
    return JsonResponse(data, safe=False)


urlpatterns = [
    path("bare/users/<path:user_id>/notifications/", bare_history),
    path("bare/users/", bare_users),
    path("", include("settings.urls")),
]
