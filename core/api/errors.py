"""Every error the API answers is JSON, whatever raised it and whether DEBUG is on or off.

Two shapes, chosen per mount by the view's ``error_format``:
- ``"detail"`` (``/api/``): DRF's own, ``{"detail": "…"}`` or field errors ``{"field": ["…"]}``;
- ``"flat"`` (the legacy lookup): ``{"error": "<one line>"}``, a field error reading ``"<field> <message>"``.

DRF's exceptions and ours (``core.errors``) are shaped by ``exception_handler``. A bug is left
to Django, which logs it with its traceback; ``ApiMiddleware`` then answers it, like any other
error page Django writes (an unknown URL, a 500), as JSON without the page.
"""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any

from django.http import HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import ApplicationError, ConflictError, NotFoundError

DETAIL = "detail"
FLAT = "flat"

STATUS_OF = {NotFoundError: 404, ConflictError: 409}
# Headers an error answer must keep when its body is rewritten.
KEPT_HEADERS = ("WWW-Authenticate", "Retry-After", "Allow")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus our errors; every answer in the view's ``error_format``."""
    if isinstance(exc, ApplicationError):
        set_rollback()
        status = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 400)
        response = Response({DETAIL: exc.message, **exc.extra}, status=status)
    else:
        response = drf_exception_handler(exc, context)
        if response is None:
            return None
    if isinstance(exc, exceptions.Throttled):
        # DRF leaves the header out when the wait rounds to 0; a client needs a number.
        response["Retry-After"] = str(max(1, math.ceil(exc.wait or 0)))
    response.data = error_body(response.data, error_format=view_error_format(context.get("view")))
    # Kept apart from ``data``, which an HTML renderer may add to (TemplateHTMLRenderer does).
    response.error_data = dict(response.data)
    return response


def view_error_format(view: Any) -> str:
    """The error shape a view instance, or a resolved view function, asks for."""
    if view is None:
        return DETAIL
    initkwargs = getattr(view, "initkwargs", None)
    if isinstance(initkwargs, dict) and "error_format" in initkwargs:
        return initkwargs["error_format"]
    return getattr(getattr(view, "cls", view), "error_format", DETAIL)


def error_body(data: Any, *, error_format: str) -> dict[str, Any]:
    """An error's data in the given shape."""
    if error_format == FLAT:
        return {"error": one_line(data)}
    if isinstance(data, dict):
        return data
    # A bare list of messages (a ValidationError raised with one): no field to name.
    return {DETAIL: one_line(data)}


def one_line(data: Any) -> str:
    """The first message of an error's data, prefixed with its field's name when it has one."""
    if isinstance(data, dict):
        if not data:
            return ""
        if DETAIL in data:
            return str(data[DETAIL])
        field, messages = next(iter(data.items()))
        message = one_line(messages)
        return message if field == "non_field_errors" else f"{field} {message}"
    if isinstance(data, list | tuple):
        return one_line(data[0]) if data else ""
    return str(data)


def json_error_response(response: HttpResponse, *, error_format: str) -> HttpResponse:
    """``response`` unchanged if it is JSON; else a JSON answer with its status and no page.

    DRF's errors rendered as a page (for a browser) keep their body; Django's own pages
    (an unknown URL, a server error, with or without DEBUG) become their status's phrase.
    """
    if response.get("Content-Type", "").startswith("application/json"):
        return response
    data = getattr(response, "error_data", None)
    if data is None:
        data = error_body({DETAIL: _phrase(response.status_code)}, error_format=error_format)
    replaced = JsonResponse(
        data,
        status=response.status_code,
        json_dumps_params={"ensure_ascii": False},
    )
    for header in KEPT_HEADERS:
        if header in response:
            replaced[header] = response[header]
    return replaced


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
