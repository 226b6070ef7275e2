"""The admin for app users: the health profiles notifications are written for, and their preferences.

Named "App users" so nobody mistakes them for staff accounts (``django.contrib.auth``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts.models import CSV_FIELDS, NotificationCategory, User
from accounts.validators import muted_categories_validate, timezone_validate

# What a user chooses about their notifications, edited beside the profile.
PREFERENCE_FIELDS = ("notifications_enabled", "muted_categories", "timezone", "send_time")


class AppUserForm(forms.ModelForm):
    """The user's profile and preferences, each preference checked before it is saved.

    Muted categories are ticked from the known ones rather than typed as JSON;
    the zone is checked against the IANA names; the send time reads ``HH:MM``.
    """

    muted_categories = forms.MultipleChoiceField(
        choices=NotificationCategory.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Categories never to send; the rotation picks among the others.",
    )
    send_time = forms.TimeField(
        required=False,
        input_formats=["%H:%M"],
        widget=forms.TimeInput(format="%H:%M"),
        help_text="Local time of day as HH:MM; empty means NOTIFICATIONS_SEND_TIME.",
    )

    class Meta:
        model = User
        fields = (*CSV_FIELDS, *PREFERENCE_FIELDS)

    def clean_muted_categories(self) -> list[str]:
        values = list(self.cleaned_data.get("muted_categories") or [])
        # The choices already refuse unknown values; a hand-made POST can still repeat one.
        muted_categories_validate(values)
        return [value for value in NotificationCategory.values if value in values]

    def clean_timezone(self) -> str:
        value = self.cleaned_data.get("timezone", "")
        timezone_validate(value)
        return value


@admin.register(User)
class AppUserAdmin(admin.ModelAdmin):
    """Find an app user by id, name or email; filter by activity, goals and preferences."""

    form = AppUserForm
    list_display = (
        "user_id",
        "name",
        "email",
        "age",
        "activity_level",
        "health_goals",
        "notifications_enabled",
        "timezone",
        "send_time",
        "signup_date",
    )
    list_filter = ("notifications_enabled", "activity_level", "health_goals")
    search_fields = ("user_id__exact", "name", "email")
    search_help_text = "User id (exact), or part of the name or email."
    list_per_page = 100
    # Shown, never edited: moving a user's slot would shift their category rotation.
    readonly_fields = ("rotation_slot",)
    fieldsets = (
        (
            None,
            {"fields": (*CSV_FIELDS, "rotation_slot")},
        ),
        ("Preferences", {"fields": PREFERENCE_FIELDS}),
    )
