from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    """Getting outbox rows to the external endpoint: claims, HTTP attempts, the worker."""

    name = "delivery"
    verbose_name = "Delivery"
