"""The delivery dashboard, mounted under ``admin/delivery/dashboard/`` by ``settings/urls.py``."""

from django.urls import path

from pipeline import views

app_name = "pipeline"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
