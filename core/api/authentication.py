"""Who may call the API: a client holding an API key, or a member of staff logged into the admin.

Keys come from ``rest_framework_api_key``: stored hashed, shown once, revocable and
expirable in the admin. A request sends ``Authorization: Api-Key <key>``; with neither
a key nor a session it gets 401 with ``WWW-Authenticate: Api-Key``.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser

from core.errors import ApplicationError

KEYWORD = "Api-Key"
# The admin's field: longer names would fail at the database.
NAME_MAX_LENGTH = APIKey._meta.get_field("name").max_length


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>``: a usable key authenticates; any other key is a 401."""

    key_parser = KeyParser()

    def authenticate(self, request: Request) -> tuple[AnonymousUser, APIKey] | None:
        key = self.key_parser.get(request)
        if key is None:
            return None
        api_key = None
        # A NUL can never be part of a key, and PostgreSQL text cannot hold one.
        if key and "\x00" not in key:
            try:
                api_key = APIKey.objects.get_from_key(key)
            except APIKey.DoesNotExist:
                api_key = None
        if api_key is None or api_key.has_expired:
            raise AuthenticationFailed("API key is unknown, revoked or expired.")
        # No Django user stands behind a key: the key itself is the credential.
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class IsApiClient(BasePermission):
    """A usable API key, or an active staff session."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, APIKey):
            return True
        user = request.user
        return bool(user and user.is_active and user.is_staff)


class IsApiClientOrDevelopment(IsApiClient):
    """Anyone in development (``API_DEVELOPMENT_OPEN``); an API client otherwise."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return settings.API_DEVELOPMENT_OPEN or super().has_permission(request, view)


def client_name(request: Any) -> str:
    """Who made the request, for logs: ``key:<name>``, ``staff:<username>`` or ``anonymous``.

    Works on DRF's request and on Django's (DRF copies ``user`` and ``auth`` onto it).
    """
    auth = getattr(request, "auth", None)
    if isinstance(auth, APIKey):
        return f"key:{auth.name}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"staff:{user.get_username()}"
    return "anonymous"


def api_key_create(*, name: str, expires_at: datetime.datetime | None = None) -> tuple[APIKey, str]:
    """A new usable key named ``name``; returns the row and the key, which is stored only hashed."""
    name = name.strip()
    if not name:
        raise ApplicationError("the key needs a name")
    if len(name) > NAME_MAX_LENGTH:
        raise ApplicationError(f"the name must be at most {NAME_MAX_LENGTH} characters")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("the expiry must be in the future")
    return APIKey.objects.create_key(name=name, expiry_date=expires_at)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The key in the OpenAPI document, so the docs page can send it."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`{KEYWORD} <key>`; create a key with `manage.py create_api_key NAME`.",
        }
