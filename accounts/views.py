"""JSON views of the user lookup: thin wrappers that parse, call a selector, shape.

``GET /users/`` answers a plain JSON array, paginated by ``page`` / ``page_size``
with an RFC 8288 ``Link`` header (``next`` / ``prev``) and ``X-Total-Count``.
Bad input is a 400 with ``{"error": "..."}``; an unknown user a 404 likewise.
``?id=`` matches the id exactly, the empty id included (so it finds no one).
No id can contain a NUL character (PostgreSQL text cannot hold one), so a NUL
in ``id`` or ``name`` is a 400 and in the detail URL a 404, never a query.
"""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, JsonResponse, QueryDict
from django.views.decorators.http import require_GET

from accounts.lookup import user_as_dict, user_get, user_list
from core.parsing import positive_int


class BadQuery(Exception):
    """A query parameter the API cannot use; its message is the client's error text."""


@require_GET
def user_list_api(request: HttpRequest) -> JsonResponse:
    """Users matching ``?id=`` (exact) and ``?name=`` (case-insensitive substring), one page."""
    try:
        page_number = _positive_int(request.GET, "page", default=1)
        page_size = _positive_int(request.GET, "page_size", default=settings.USERS_PAGE_SIZE)
        if page_size > settings.USERS_MAX_PAGE_SIZE:
            raise BadQuery(f"page_size must be at most {settings.USERS_MAX_PAGE_SIZE}")
        user_id = _text(request.GET, "id")
        name = _text(request.GET, "name")
        paginator = Paginator(user_list(user_id=user_id, name=name), page_size)
        if paginator.count and page_number > paginator.num_pages:
            raise BadQuery(f"page {page_number} is beyond the last page ({paginator.num_pages})")
    except BadQuery as error:
        return JsonResponse({"error": str(error)}, status=400)
    page = paginator.get_page(page_number) if paginator.count else None
    users = [user_as_dict(user) for user in page.object_list] if page else []
    response = JsonResponse(users, safe=False, json_dumps_params={"ensure_ascii": False})
    response["X-Total-Count"] = str(paginator.count)
    links = []
    if page and page.has_next():
        links.append(f'<{_page_url(request, page.next_page_number())}>; rel="next"')
    if page and page.has_previous():
        links.append(f'<{_page_url(request, page.previous_page_number())}>; rel="prev"')
    if links:
        response["Link"] = ", ".join(links)
    return response


@require_GET
def user_detail_api(request: HttpRequest, user_id: str) -> JsonResponse:
    """One user by exact ``user_id`` (which may contain "/"), or 404."""
    user = None if "\x00" in user_id else user_get(user_id=user_id)
    if user is None:
        return JsonResponse({"error": f"user {user_id!r} not found"}, status=404)
    return JsonResponse(user_as_dict(user), json_dumps_params={"ensure_ascii": False})


def _positive_int(query: QueryDict, name: str, *, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        return positive_int(raw)
    except ValueError as error:
        raise BadQuery(f"{name} {error}") from None


def _text(query: QueryDict, name: str) -> str | None:
    """The parameter as given (None when absent); a NUL character is a ``BadQuery``."""
    value = query.get(name)
    if value is not None and "\x00" in value:
        raise BadQuery(f"{name} must not contain a NUL character")
    return value


def _page_url(request: HttpRequest, page_number: int) -> str:
    """This request's absolute URL with ``page`` replaced, the other parameters kept."""
    query = request.GET.copy()
    query["page"] = str(page_number)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
