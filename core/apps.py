from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared plumbing with no domain: the health check, the command base, small helpers."""

    name = "core"
    verbose_name = "Core"
