"""The users resource's routes: the legacy lookup (``urlpatterns``, at ``users/``) and ``/api/v1/``'s.

The legacy mount keeps the lookup's contract: open in development (a key or staff
session in production), ``{"error": "…"}`` bodies, the CSV's nine fields for one user.
"""

from django.urls import path

from accounts.api import UserDetailApi, UserListApi
from core.api.authentication import IsApiClientOrDevelopment
from core.api.errors import FLAT

app_name = "accounts"

LEGACY = {"error_format": FLAT, "permission_classes": [IsApiClientOrDevelopment]}

urlpatterns = [
    path("", UserListApi.as_view(**LEGACY), name="user-list"),
    # ``path``, not ``str``: a user id may contain "/" (``/users/a/b/`` is user "a/b").
    path(
        "<path:user_id>/",
        UserDetailApi.as_view(**LEGACY, with_preferences=False),
        name="user-detail",
    ),
]

# Mounted under /api/v1/ by settings.urls, after the routes nested under a user.
api_urlpatterns = [
    path("users/", UserListApi.as_view(), name="user-list"),
    path("users/<path:user_id>/", UserDetailApi.as_view(), name="user-detail"),
]
