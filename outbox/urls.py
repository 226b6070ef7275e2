"""The outbox's routes under ``/api/v1/`` (mounted by settings.urls)."""

from django.urls import path

from outbox.api import UserNotificationListApi, UserPreferencesApi

api_urlpatterns = [
    path(
        "users/<path:user_id>/notifications/",
        UserNotificationListApi.as_view(),
        name="user-notifications",
    ),
    path(
        "users/<path:user_id>/preferences/",
        UserPreferencesApi.as_view(),
        name="user-preferences",
    ),
]
