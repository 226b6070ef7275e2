"""The project's URLs: the user lookup API, the health check, metrics, the admin and its delivery dashboard."""

from django.contrib import admin
from django.urls import include, path

from core.health import healthz
from delivery.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("users/", include("accounts.urls")),
    path("admin/delivery/dashboard/", include("pipeline.urls")),
    path("admin/", admin.site.urls),
]
