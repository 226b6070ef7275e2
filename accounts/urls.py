"""The user lookup API, mounted at ``users/``."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.user_list_api, name="user-list"),
    # ``path``, not ``str``: a user id may contain "/" (``/users/a/b/`` is user "a/b").
    path("<path:user_id>/", views.user_detail_api, name="user-detail"),
]
