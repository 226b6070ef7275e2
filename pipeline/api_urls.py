"""The pipeline's routes under ``/api/v1/`` (mounted by settings.urls)."""

from django.urls import path

from pipeline.api import NotificationCancelApi, NotificationDetailApi, NotificationRequeueApi

api_urlpatterns = [
    path(
        "notifications/<uuid:notification_id>/",
        NotificationDetailApi.as_view(),
        name="notification-detail",
    ),
    path(
        "notifications/<uuid:notification_id>/cancel/",
        NotificationCancelApi.as_view(),
        name="notification-cancel",
    ),
    path(
        "notifications/<uuid:notification_id>/requeue/",
        NotificationRequeueApi.as_view(),
        name="notification-requeue",
    ),
]
