"""The admin for app users: the health profiles notifications are written for.

Named "App users" so nobody mistakes them for staff accounts (``django.contrib.auth``).
"""

from __future__ import annotations

from django.contrib import admin

from accounts.models import User


@admin.register(User)
class AppUserAdmin(admin.ModelAdmin):
    """Find an app user by id, name or email; filter by activity level and goals."""

    list_display = (
        "user_id",
        "name",
        "email",
        "age",
        "activity_level",
        "health_goals",
        "signup_date",
    )
    list_filter = ("activity_level", "health_goals")
    search_fields = ("user_id__exact", "name", "email")
    search_help_text = "User id (exact), or part of the name or email."
    list_per_page = 100
    # Shown, never edited: moving a user's slot would shift their category rotation.
    readonly_fields = ("rotation_slot",)
