from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """What to say to each user, once per day: the outbox table and its generators."""

    name = "outbox"
    verbose_name = "Notification outbox"
