from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development tools: the mock external endpoint. No product app imports this one."""

    name = "devtools"
    verbose_name = "Development tools"
