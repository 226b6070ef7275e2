"""Add ``User.rotation_slot`` and give the existing users balanced slots.

Existing rows are numbered in ``user_id`` order and given slots round-robin:
one ``UPDATE … FROM (SELECT ROW_NUMBER() …)`` where the database has both
(PostgreSQL, SQLite 3.33+), otherwise chunks of ``bulk_update``. Never a query
per row.
"""

import sqlite3

from django.db import migrations, models

import accounts.models

SLOTS = 3
CHUNK = 2000


def slots_balance(apps, schema_editor) -> None:
    """Give every existing user ``(rank in user_id order) % 3``."""
    connection = schema_editor.connection
    User = apps.get_model("accounts", "User")
    if connection.vendor == "postgresql" or (
        connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 33)
    ):
        slots_balance_in_one_update(User, connection)
    else:
        slots_balance_in_chunks(User)


def slots_balance_in_one_update(User, connection) -> None:
    """One ``UPDATE … FROM`` numbering the rows with ``ROW_NUMBER()``."""
    table = connection.ops.quote_name(User._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET rotation_slot = ranked.slot "
            f"FROM (SELECT user_id, (ROW_NUMBER() OVER (ORDER BY user_id) - 1) % {SLOTS} "
            f"AS slot FROM {table}) AS ranked "
            f"WHERE {table}.user_id = ranked.user_id"
        )


def slots_balance_in_chunks(User) -> None:
    """Keyset pages of ``CHUNK`` ids, each written back with one ``bulk_update``."""
    users = User.objects.order_by("user_id")
    number, last = 0, None
    while True:
        page = users if last is None else users.filter(user_id__gt=last)
        ids = list(page.values_list("user_id", flat=True)[:CHUNK])
        if not ids:
            return
        User.objects.bulk_update(
            [
                User(user_id=user_id, rotation_slot=(number + index) % SLOTS)
                for index, user_id in enumerate(ids)
            ],
            ["rotation_slot"],
        )
        number, last = number + len(ids), ids[-1]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        # A constant default fills the new column; the balanced slots come next.
        migrations.AddField(
            model_name="user",
            name="rotation_slot",
            field=models.PositiveSmallIntegerField(
                default=0,
                editable=False,
                help_text=(
                    "0, 1 or 2, given round-robin at creation; the category rotation starts here."
                ),
            ),
        ),
        migrations.RunPython(slots_balance, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="user",
            name="rotation_slot",
            field=models.PositiveSmallIntegerField(
                default=accounts.models.next_rotation_slot,
                editable=False,
                help_text=(
                    "0, 1 or 2, given round-robin at creation; the category rotation starts here."
                ),
            ),
        ),
    ]
