"""The one way the API pages a list: ``?page=``/``?page_size=``, a plain JSON array, ``Link`` and ``X-Total-Count``.

The body is the page's items and nothing else; the total is in ``X-Total-Count`` and the
neighbouring pages in an RFC 8288 ``Link`` header (``next``, ``prev``), every other query
parameter kept. ``page_size`` defaults to ``USERS_PAGE_SIZE`` and is bounded by
``USERS_MAX_PAGE_SIZE``, read per request. ``next`` is linked when a row follows the page
(one row more is read to know), never from the total.

The total is counted unless the page read shows it (a last page). A list whose total
depends on a few values only (the history: its user and filters, not the page or cursor)
names them as its ``count_scope``: its total is then kept in the ``API_COUNT_CACHE`` cache
for ``API_COUNT_CACHE_SECONDS``, so a client paging through counts once, not once a page.
Nothing invalidates it: for that long the total may lag rows written or deleted since,
the TTL being the bound; a cached total the page just read contradicts is counted afresh.

A list can also be paged by keyset: give a ``Keyset`` naming a field unique within the
list. Its ``Link`` URLs then carry, besides the page number, a ``cursor`` holding the
boundary value of the page just served, and a request with a cursor seeks to it through
the index instead of counting rows from the start: following the links, page 1,000 costs
what page 1 costs. ``?page=N`` alone still works (from the start, by offset), so a client
may jump to any page; ``page`` then only numbers the pages in the links.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from core.parsing import positive_int

AFTER = "after"
BEFORE = "before"
COUNT_CACHE_PREFIX = "api-count"


@dataclass(frozen=True, kw_only=True, slots=True)
class Keyset:
    """A field unique within the paged list (ordered descending), and how to read it from a cursor."""

    field: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str] = str


class PagePagination(BasePagination):
    """Pages of a queryset as a plain array with ``Link`` and ``X-Total-Count``; keyset when asked."""

    def __init__(
        self, *, keyset: Keyset | None = None, count_scope: Mapping[str, Any] | None = None
    ) -> None:
        self.keyset = keyset
        self.count_scope = count_scope

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Any]:
        self.request = request
        self.view = view
        self.page_number = _positive_int(request, "page", default=1)
        self.page_size = _positive_int(request, "page_size", default=settings.USERS_PAGE_SIZE)
        if self.page_size > settings.USERS_MAX_PAGE_SIZE:
            raise serializers.ValidationError(
                {"page_size": [f"must be at most {settings.USERS_MAX_PAGE_SIZE}"]}
            )
        cursor = self._cursor(request) if self.keyset else None
        start = (self.page_number - 1) * self.page_size
        if cursor is not None:
            self.rows, self.followed = self._seek(queryset, *cursor)
        else:
            rows = list(queryset[start : start + self.page_size + 1])
            self.rows, self.followed = rows[: self.page_size], len(rows) > self.page_size
        self.count = self._count(queryset, start=start, by_offset=cursor is None)
        self.last_page = max(1, math.ceil(self.count / self.page_size))
        # Only an empty page can be beyond the end: a total that lags must not refuse rows.
        if not self.rows and self.count and self.page_number > self.last_page:
            raise serializers.ValidationError(
                {"page": [f"{self.page_number} is beyond the last page ({self.last_page})"]}
            )
        return self.rows

    def _count(self, queryset: QuerySet, *, start: int, by_offset: bool) -> int:
        """The total, without counting when the page just read shows where the list ends.

        A page by offset that no row follows is the last one (or the first, empty): the
        total is its start plus its length. A cursor's page cannot tell its start, so it
        never ends the count. Otherwise the scope's cached total serves unless the page
        contradicts it: fewer rows than the page shows (a cursor's start taken from its page
        number), or, past the end by offset, more than its start.
        """
        shown = start + len(self.rows)
        if by_offset and not self.followed and (self.rows or start == 0):
            return shown
        at_least = shown + self.followed if self.rows else 0
        at_most = start if by_offset and not self.rows else None
        key = self._count_key()
        cache = caches[settings.API_COUNT_CACHE]
        total = cache.get(key) if key else None
        if total is None or total < at_least or (at_most is not None and total > at_most):
            total = queryset.count()
            if key:
                cache.set(key, total, timeout=settings.API_COUNT_CACHE_SECONDS)
        return total

    def _count_key(self) -> str | None:
        """The cache key of this view's total for its ``count_scope``; None when not cached."""
        if self.count_scope is None or settings.API_COUNT_CACHE_SECONDS == 0:
            return None
        view = type(self.view)
        # Hashed: the scope holds user input (an id may contain any character).
        scope = json.dumps(self.count_scope, sort_keys=True, default=str, ensure_ascii=False)
        digest = hashlib.sha256(scope.encode()).hexdigest()
        return f"{COUNT_CACHE_PREFIX}:{view.__module__}.{view.__qualname__}:{digest}"

    def get_paginated_response(self, data: Sequence[Any]) -> Response:
        headers = {"X-Total-Count": str(self.count)}
        links = []
        if self.rows and self.followed:
            links.append(f'<{self._url(self.page_number + 1, AFTER, self.rows[-1])}>; rel="next"')
        if self.rows and self.page_number > 1:
            links.append(f'<{self._url(self.page_number - 1, BEFORE, self.rows[0])}>; rel="prev"')
        if links:
            headers["Link"] = ", ".join(links)
        return Response(list(data), headers=headers)

    def _cursor(self, request: Request) -> tuple[str, Any] | None:
        raw = request.query_params.get("cursor")
        if raw is None:
            return None
        direction, _, value = raw.partition(":")
        try:
            if direction not in (AFTER, BEFORE) or "\x00" in value:
                raise ValueError
            return direction, self.keyset.parse(value)
        except ValueError:
            raise serializers.ValidationError(
                {"cursor": ["is not one this API wrote; follow the Link header"]}
            ) from None

    def _seek(self, queryset: QuerySet, direction: str, value: Any) -> tuple[list[Any], bool]:
        """The page just after (or before) ``value`` in descending order, through the index,
        and whether rows follow it.

        Before ``value`` the row at ``value`` itself follows the page (the client was shown it).
        """
        field = self.keyset.field
        if direction == AFTER:
            rows = list(
                queryset.filter(**{f"{field}__lt": value}).order_by(f"-{field}")[
                    : self.page_size + 1
                ]
            )
            return rows[: self.page_size], len(rows) > self.page_size
        rows = list(queryset.filter(**{f"{field}__gt": value}).order_by(field)[: self.page_size])
        return rows[::-1], True

    def _url(self, page_number: int, direction: str, boundary: Any) -> str:
        """This request's absolute URL for another page, the other parameters kept."""
        query = self.request.query_params.copy()
        query["page"] = str(page_number)
        if self.keyset:
            value = self.keyset.format(getattr(boundary, self.keyset.field))
            query["cursor"] = f"{direction}:{value}"
        return self.request.build_absolute_uri(f"{self.request.path}?{query.urlencode()}")


def paginated_response(
    *,
    queryset: QuerySet,
    serializer_class: type[serializers.BaseSerializer],
    request: Request,
    view: Any,
    keyset: Keyset | None = None,
    count_scope: Mapping[str, Any] | None = None,
) -> Response:
    """One page of ``queryset`` shaped by ``serializer_class``, with the list headers.

    ``count_scope``: every value the total depends on besides the view (path ids, validated
    filters; never the page or cursor), to reuse the total for a while; None counts each time.
    """
    paginator = PagePagination(keyset=keyset, count_scope=count_scope)
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _positive_int(request: Request, name: str, *, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return positive_int(raw)
    except ValueError as error:
        raise serializers.ValidationError({name: [str(error)]}) from None
