"""The project's URLs: the REST API and its docs, the legacy lookup, health, metrics, the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.urls import api_urlpatterns as accounts_api
from core.api.authentication import IsApiClientOrDevelopment
from core.health import healthz
from delivery.metrics import metrics_view
from outbox.urls import api_urlpatterns as outbox_api
from pipeline.api_urls import api_urlpatterns as pipeline_api

# The routes nested under a user come before ``users/<path:user_id>/``, which would take them
# (a user id may contain "/").
api_v1 = [*outbox_api, *pipeline_api, *accounts_api]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("users/", include("accounts.urls")),
    path("api/v1/", include((api_v1, "api"))),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[IsApiClientOrDevelopment]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="api-schema", permission_classes=[IsApiClientOrDevelopment]
        ),
        name="api-docs",
    ),
    path("admin/delivery/dashboard/", include("pipeline.urls")),
    path("admin/", admin.site.urls),
]
