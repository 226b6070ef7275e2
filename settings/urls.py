"""The project's URLs: the user lookup API, the health check, the admin and its delivery dashboard."""

from django.contrib import admin
from django.urls import include, path

from core.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("users/", include("accounts.urls")),
    path("admin/delivery/dashboard/", include("pipeline.urls")),
    path("admin/", admin.site.urls),
]
