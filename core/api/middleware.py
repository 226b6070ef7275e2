"""One middleware around every API request: errors as JSON, and the audit line.

It sits outermost, so it sees the final answer of every request under ``/api/`` and of
every DRF view (the legacy lookup too): whatever page Django wrote for an error becomes
JSON, and one line records who asked what and how it went. The line names the client
(key name or staff username), never the key, the query string or a profile's values.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from rest_framework.views import APIView

from core.api.authentication import client_name
from core.api.errors import json_error_response, view_error_format
from core.logs import log_action

logger = logging.getLogger(__name__)

# Requests here are API requests even when no view answers them (an unknown URL).
API_PREFIX = "/api/"


class ApiMiddleware:
    """JSON errors and an audit line for API requests; other requests pass untouched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        view = _api_view(request)
        if view is None and not request.path.startswith(API_PREFIX):
            return response
        if response.status_code >= 400:
            response = json_error_response(response, error_format=view_error_format(view))
        log_action(
            logger,
            "core.api_request",
            client=json.dumps(client_name(request), ensure_ascii=False),
            method=request.method,
            # Quoted so the path stays one token; the query string is left out (it may hold a name).
            path=quote(request.path),
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response


def _api_view(request: HttpRequest) -> Any:
    """The DRF view function that answered, or None."""
    func = getattr(getattr(request, "resolver_match", None), "func", None)
    view_class = getattr(func, "cls", None)
    if isinstance(view_class, type) and issubclass(view_class, APIView):
        return func
    return None
