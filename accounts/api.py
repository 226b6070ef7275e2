"""The users resource: ``users/`` and ``users/<user_id>/``.

Mounted twice, one implementation: under ``/api/v1/`` (a key or staff session, DRF's
error shape, one user with zone and preferences) and as the legacy ``/users/`` lookup
(see ``accounts.urls``: open in development, ``{"error": …}`` bodies, the CSV's nine fields).
"""

from __future__ import annotations

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.lookup import user_get_or_raise, user_list
from accounts.serializers import UserDetailOutputSerializer, UserOutputSerializer
from core.api.pagination import paginated_response
from core.api.schema import ERROR_RESPONSES, PAGE_PARAMETERS
from core.api.views import BaseApi


class QueryTextField(serializers.CharField):
    """A query parameter taken as given (blanks kept, empty allowed); a NUL character is refused."""

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, allow_blank=True, trim_whitespace=False, **kwargs)
        self.validators = [
            ProhibitNullCharactersValidator(message="must not contain a NUL character")
            if isinstance(validator, ProhibitNullCharactersValidator)
            else validator
            for validator in self.validators
        ]


class UserListApi(BaseApi):
    """Users by ``?id=`` (exact) and ``?name=`` (case-insensitive substring), a page at a time."""

    class FilterSerializer(serializers.Serializer):
        id = QueryTextField(help_text="Exact user id.")
        name = QueryTextField(help_text="Case-insensitive part of the name.")

    @extend_schema(
        operation_id="users_list",
        parameters=[FilterSerializer, *PAGE_PARAMETERS],
        responses={200: UserOutputSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        users = user_list(
            user_id=filters.validated_data.get("id"), name=filters.validated_data.get("name")
        )
        return paginated_response(
            queryset=users, serializer_class=UserOutputSerializer, request=request, view=self
        )


class UserDetailApi(BaseApi):
    """One user by exact ``user_id`` (which may contain "/"), or 404."""

    # The legacy mount answers the CSV's nine fields only.
    with_preferences: bool = True

    @extend_schema(
        operation_id="users_retrieve",
        parameters=[OpenApiParameter("user_id", str, OpenApiParameter.PATH)],
        responses={
            200: UserDetailOutputSerializer,
            404: OpenApiResponse(description="No such user."),
            **ERROR_RESPONSES,
        },
    )
    def get(self, request: Request, user_id: str) -> Response:
        user = user_get_or_raise(user_id=user_id)
        serializer = UserDetailOutputSerializer if self.with_preferences else UserOutputSerializer
        return Response(serializer(user).data)
