"""``manage.py create_api_key NAME``: a new API key, printed once, alone on the last line."""

from __future__ import annotations

import datetime

from django.core.management.base import CommandError
from django.utils import timezone

from core.api.authentication import api_key_create
from core.commands import DatabaseCommand
from core.errors import ApplicationError
from core.parsing import positive_int


class Command(DatabaseCommand):
    help = (
        "Create an API key for a client of the REST API. The key is shown once, alone on the "
        "last line; only its hash is stored. Revoke or expire it in the admin (API keys)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="who the key is for, e.g. health-app-backend")
        parser.add_argument(
            "--expires-in-days",
            type=positive_int,
            help="the key stops working after this many days",
        )

    def handle(self, *args, name: str, expires_in_days: int | None, **options):
        expires_at = (
            timezone.now() + datetime.timedelta(days=expires_in_days) if expires_in_days else None
        )
        try:
            api_key, key = api_key_create(name=name, expires_at=expires_at)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        expiry = f"expires {api_key.expiry_date:%Y-%m-%d %H:%M %Z}" if expires_at else "no expiry"
        self.stdout.write(
            f"Created API key {api_key.name!r} (prefix {api_key.prefix}, {expiry}). "
            "Store it now: it is not shown again."
        )
        self.stdout.write(key)
