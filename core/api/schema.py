"""What the OpenAPI document says beyond what the API classes declare: scope, list headers, errors.

It covers the versioned API under ``/api/v1/`` only, not the legacy mounts.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

API_V1_PREFIX = "/api/v1/"


def only_api_v1(endpoints: list[tuple[str, ...]], **kwargs: Any) -> list[tuple[str, ...]]:
    """drf-spectacular preprocessing hook: keep the endpoints under ``/api/v1/``."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(API_V1_PREFIX)]


ErrorSerializer = inline_serializer(
    name="Error",
    fields={"detail": serializers.CharField()},
)

# Every list: its query parameters and the headers that carry what the plain array does not.
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1."),
    OpenApiParameter(
        "page_size", int, description="Items per page (default and maximum set by the server)."
    ),
    OpenApiParameter(
        "Link",
        str,
        OpenApiParameter.HEADER,
        response=[200],
        description='RFC 8288 links to the `rel="next"` and `rel="prev"` pages.',
    ),
    OpenApiParameter(
        "X-Total-Count",
        int,
        OpenApiParameter.HEADER,
        response=[200],
        description=(
            "How many items match, over all pages; a history's may lag by up to the server's "
            "`API_COUNT_CACHE_SECONDS`."
        ),
    ),
]
CURSOR_PARAMETER = OpenApiParameter(
    "cursor",
    str,
    description="Where the page starts; copy it from a `Link` URL (`?page=` alone works too).",
)

ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="A bad parameter: field errors."),
    401: OpenApiResponse(ErrorSerializer, description="No API key or session; or a bad key."),
    403: OpenApiResponse(ErrorSerializer, description="A session that is not staff."),
    429: OpenApiResponse(ErrorSerializer, description="Throttled; see `Retry-After`."),
}
