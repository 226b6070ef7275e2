"""`users --id ID | --name TEXT`: the legacy lookup on the command line, JSON on stdout."""

from __future__ import annotations

import json

from django.core.management.base import CommandParser

from accounts.lookup import user_as_dict, user_list
from core.commands import DatabaseCommand


class Command(DatabaseCommand):
    help = (
        "Print the matching app users as a JSON array: --id is an exact match, "
        "--name a case-insensitive substring."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        lookup = parser.add_mutually_exclusive_group(required=True)
        lookup.add_argument("--id", dest="user_id", help="Exact user_id.")
        lookup.add_argument("--name", help="Case-insensitive part of the name.")

    def handle(self, *args, user_id: str | None, name: str | None, **options) -> None:
        users = [
            user_as_dict(user)
            for user in user_list(user_id=user_id, name=name).iterator(chunk_size=2000)
        ]
        self.stdout.write(json.dumps(users, ensure_ascii=False, indent=2))
