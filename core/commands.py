"""What the project's management commands share: database trouble ends in one line, not a traceback.

An operator who runs a command against a database that is down, unreachable or not
migrated yet gets the reason and the fix (check ``DATABASE_URL``, run ``migrate``)
as a ``CommandError``, which Django prints as one line with exit status 1.
"""

from __future__ import annotations

import gc

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, ProgrammingError


class DatabaseCommand(BaseCommand):
    """A command that reports an unavailable or unmigrated database in one line."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except (OperationalError, InterfaceError, ProgrammingError) as error:
            message = database_error_message(error)
            if message is None:
                raise
            raise CommandError(message) from None


def database_error_message(
    error: OperationalError | InterfaceError | ProgrammingError,
) -> str | None:
    """The one-line explanation of a database error an operator can fix; None for anything else.

    Every ``OperationalError`` or ``InterfaceError`` is the database's state (down,
    refused, connection closed, locked, disk full). A ``ProgrammingError`` is only translated when a table is missing; any
    other one is a bug in a query and keeps its traceback.
    """
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    missing_table = "no such table" in first_line or (
        isinstance(error, ProgrammingError) and type(error.__cause__).__name__ == "UndefinedTable"
    )
    if missing_table:
        return f"the database is not migrated ({first_line}): run `python manage.py migrate`"
    if isinstance(error, ProgrammingError):
        return None
    return f"database unavailable: {first_line} (check DATABASE_URL)"


def startup_objects_freeze() -> None:
    """Keep everything loaded so far out of the garbage collector's full passes.

    A command's process keeps its startup objects (Django, the apps, the libraries)
    until it exits, yet a long run that allocates by the million has the collector
    rescan them at every full pass, a large share of generation's CPU. For
    processes that run one command and exit, not for a long-lived task worker
    (whatever is frozen is never collected).
    """
    gc.freeze()
