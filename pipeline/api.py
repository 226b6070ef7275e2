"""One notification: ``notifications/<id>/`` with its attempt log, and its ``cancel`` and ``requeue`` actions."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.authentication import client_name
from core.api.schema import ERROR_RESPONSES, ErrorSerializer
from core.api.views import BaseApi
from pipeline.notifications import notification_cancel, notification_get, notification_requeue
from pipeline.serializers import NotificationDetailOutputSerializer

NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such notification.")}


class NotificationDetailApi(BaseApi):
    """One notification with `attempts_log`."""

    @extend_schema(
        operation_id="notifications_retrieve",
        responses={200: NotificationDetailOutputSerializer, **NOT_FOUND, **ERROR_RESPONSES},
    )
    def get(self, request: Request, notification_id: uuid.UUID) -> Response:
        notification = notification_get(notification_id=notification_id)
        return Response(NotificationDetailOutputSerializer(notification).data)


class NotificationCancelApi(BaseApi):
    """Pending → cancelled: 200 with the row; 409 from any other status."""

    @extend_schema(
        operation_id="notifications_cancel",
        request=None,
        responses={
            200: NotificationDetailOutputSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="Not pending (`status` says what it is)."
            ),
            **NOT_FOUND,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request, notification_id: uuid.UUID) -> Response:
        notification = notification_cancel(
            notification_id=notification_id, actor=client_name(request)
        )
        return Response(NotificationDetailOutputSerializer(notification).data)


class NotificationRequeueApi(BaseApi):
    """Failed → pending, attempts 0, due now: 200 with the row; 409 from any other status."""

    @extend_schema(
        operation_id="notifications_requeue",
        request=None,
        responses={
            200: NotificationDetailOutputSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="Not failed (`status` says what it is)."
            ),
            **NOT_FOUND,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request, notification_id: uuid.UUID) -> Response:
        notification = notification_requeue(
            notification_id=notification_id, actor=client_name(request)
        )
        return Response(NotificationDetailOutputSerializer(notification).data)
