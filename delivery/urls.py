"""The delivery dashboard, mounted under ``admin/delivery/dashboard/`` by ``settings/urls.py``."""

from django.urls import path

from delivery import views

app_name = "delivery"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
