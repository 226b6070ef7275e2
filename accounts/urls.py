"""The user lookup API, mounted at ``users/``."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.user_list_api, name="user-list"),
    path("<str:user_id>/", views.user_detail_api, name="user-detail"),
]
