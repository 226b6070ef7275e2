"""A user's side of the outbox: ``users/<user_id>/notifications/`` and ``users/<user_id>/preferences/``.

The preferences are the user's data (``accounts``), but changing them cancels pending
rows here, so the endpoint is served where both can be reached.
"""

from __future__ import annotations

import datetime

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.lookup import user_get_or_raise
from accounts.serializers import PreferencesSerializer
from core.api.authentication import client_name
from core.api.pagination import Keyset, paginated_response
from core.api.schema import CURSOR_PARAMETER, ERROR_RESPONSES, PAGE_PARAMETERS
from core.api.views import BaseApi
from outbox.models import DailyNotification
from outbox.preferences import preferences_update
from outbox.selectors import notification_list
from outbox.serializers import NotificationOutputSerializer

USER_ID = OpenApiParameter("user_id", str, OpenApiParameter.PATH)
NOT_FOUND = {404: OpenApiResponse(description="No such user.")}

# What the history shows, and so all it loads of a row.
HISTORY_FIELDS = tuple(field.source for field in NotificationOutputSerializer().fields.values())
# One row per user per date: the date is unique within a user's history.
BY_DATE = Keyset(field="date", parse=datetime.date.fromisoformat, format=datetime.date.isoformat)


class UserNotificationListApi(BaseApi):
    """The user's notifications, newest date first, filtered; paged by keyset along the links.

    Its total depends on the user and the filters only, so it is reused across pages (see
    ``core.api.pagination``).
    """

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=DailyNotification.Status.choices, required=False)
        date_from = serializers.DateField(required=False, help_text="First date, inclusive.")
        date_to = serializers.DateField(required=False, help_text="Last date, inclusive.")

        def validate(self, data: dict) -> dict:
            if "date_from" in data and "date_to" in data and data["date_from"] > data["date_to"]:
                raise serializers.ValidationError({"date_to": "must not be before date_from"})
            return data

    @extend_schema(
        operation_id="users_notifications_list",
        parameters=[USER_ID, FilterSerializer, *PAGE_PARAMETERS, CURSOR_PARAMETER],
        responses={200: NotificationOutputSerializer(many=True), **NOT_FOUND, **ERROR_RESPONSES},
    )
    def get(self, request: Request, user_id: str) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        notifications = notification_list(user_id=user_id, **filters.validated_data)
        response = paginated_response(
            queryset=notifications.only(*HISTORY_FIELDS),
            serializer_class=NotificationOutputSerializer,
            request=request,
            view=self,
            keyset=BY_DATE,
            count_scope={"user_id": user_id, **filters.validated_data},
        )
        if not response.data:
            # Only an empty page can be an unknown user's: 404 then, [] for a known one.
            user_get_or_raise(user_id=user_id)
        return response


class UserPreferencesApi(BaseApi):
    """Read or change what a user receives; a change cancels the pending rows it excludes."""

    @extend_schema(
        operation_id="users_preferences_retrieve",
        parameters=[USER_ID],
        responses={200: PreferencesSerializer, **NOT_FOUND, **ERROR_RESPONSES},
    )
    def get(self, request: Request, user_id: str) -> Response:
        user = user_get_or_raise(user_id=user_id)
        return Response(PreferencesSerializer(user).data)

    @extend_schema(
        operation_id="users_preferences_update",
        parameters=[USER_ID],
        request=PreferencesSerializer,
        responses={200: PreferencesSerializer, **NOT_FOUND, **ERROR_RESPONSES},
    )
    def put(self, request: Request, user_id: str) -> Response:
        return self._change(request, user_id=user_id, partial=False)

    @extend_schema(
        operation_id="users_preferences_partial_update",
        parameters=[USER_ID],
        request=PreferencesSerializer(partial=True),
        responses={200: PreferencesSerializer, **NOT_FOUND, **ERROR_RESPONSES},
    )
    def patch(self, request: Request, user_id: str) -> Response:
        return self._change(request, user_id=user_id, partial=True)

    def _change(self, request: Request, *, user_id: str, partial: bool) -> Response:
        user = user_get_or_raise(user_id=user_id)
        changes = PreferencesSerializer(data=request.data, partial=partial)
        changes.is_valid(raise_exception=True)
        preferences_update(user=user, changes=changes.validated_data, actor=client_name(request))
        return Response(PreferencesSerializer(user).data)
