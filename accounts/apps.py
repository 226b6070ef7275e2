from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """The app users of the health product (not the staff who log into the admin)."""

    name = "accounts"
    verbose_name = "App users"
