"""The health profile of an app user, as loaded from the users CSV.

This is not ``django.contrib.auth``'s user: staff log into the admin with that one.
Here a user is someone who receives notifications.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q, Value

# The users CSV's columns, in order: the file's header, and the fields the lookup API returns.
CSV_FIELDS: tuple[str, ...] = (
    "user_id",
    "name",
    "email",
    "signup_date",
    "age",
    "height_cm",
    "weight_kg",
    "activity_level",
    "health_goals",
)


class NotificationCategory(models.TextChoices):
    """The kinds of daily notification; a user may mute some (``User.muted_categories``)."""

    REMINDER = "reminder", "Daily health reminder"
    INSIGHT = "insight", "Personalized health insight"
    TIP = "tip", "Educational tip"


# Notification categories rotate through this many slots (see ``User.rotation_slot``).
ROTATION_SLOTS = len(NotificationCategory.values)


def next_rotation_slot() -> int:
    """The slot for a user created now, alone: the count of users so far, modulo the slots.

    The callable default for one-at-a-time creates (the admin, a shell). Bulk
    inserts count once and number their rows themselves (``csv_import``), since
    this would cost a query per row and give a whole batch the same slot.
    """
    return User.objects.count() % ROTATION_SLOTS


class User(models.Model):
    """An app user's health profile; ``user_id`` is the CSV's identifier, kept as text."""

    user_id = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=200, db_index=True)
    email = models.EmailField(max_length=254)
    signup_date = models.DateField()
    age = models.PositiveSmallIntegerField()
    height_cm = models.DecimalField(max_digits=5, decimal_places=1)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    activity_level = models.CharField(max_length=50)
    health_goals = models.CharField(max_length=200)
    timezone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="IANA zone; empty means the site's TIME_ZONE.",
    )
    # Given round-robin in creation order, so the categories stay balanced
    # whatever the ids look like (a hash of UUIDs or sparse numbers would not).
    rotation_slot = models.PositiveSmallIntegerField(
        default=next_rotation_slot,
        editable=False,
        help_text="0, 1 or 2, given round-robin at creation; the category rotation starts here.",
    )

    # Preferences: what the user wants to receive, and when.
    # Database defaults too: the CSV import inserts rows in bulk without these columns.
    notifications_enabled = models.BooleanField(
        default=True, db_default=True, help_text="Off: no notification is written or sent."
    )
    muted_categories = models.JSONField(
        default=list,
        db_default=Value([], output_field=models.JSONField()),
        blank=True,
        help_text='Category values never to send, e.g. ["tip"].',
    )
    send_time = models.TimeField(
        null=True,
        blank=True,
        help_text="Local time of day the notification is sent; empty means NOTIFICATIONS_SEND_TIME.",
    )

    class Meta:
        verbose_name = "app user"
        verbose_name_plural = "app users"
        ordering = ["user_id"]
        indexes = [
            # Generation plans by (zone, send time) group, then walks each group by id.
            models.Index(
                fields=["timezone", "send_time", "user_id"],
                name="accounts_user_send_group_idx",
                condition=Q(notifications_enabled=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"
