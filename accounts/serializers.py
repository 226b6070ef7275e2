"""How the API writes a user and reads a user's preferences."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.lookup import profile_number
from accounts.models import NotificationCategory, User
from core.api.serializers import OutputSerializer

HH_MM = re.compile(r"[0-9]{2}:[0-9]{2}")
ZONE_MAX_LENGTH = User._meta.get_field("timezone").max_length


@extend_schema_field(OpenApiTypes.NUMBER)
class ProfileNumberField(serializers.Field):
    """A decimal as the CSV writes it: 165 for 165.0, 60.5 for 60.5."""

    def to_representation(self, value: Decimal) -> int | float:
        return profile_number(value)


@extend_schema_field({"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$", "example": "08:00"})
class LocalTimeField(serializers.Field):
    """A local time of day as ``"HH:MM"`` (24-hour, two digits each), or null."""

    default_error_messages = {"invalid": 'must be a time as "HH:MM", got {value!r}'}

    def to_internal_value(self, data: Any) -> datetime.time:
        if not isinstance(data, str) or not HH_MM.fullmatch(data):
            self.fail("invalid", value=data)
        try:
            return datetime.time.fromisoformat(data)
        except ValueError:
            self.fail("invalid", value=data)

    def to_representation(self, value: datetime.time) -> str:
        return value.strftime("%H:%M")


class TimeZoneField(serializers.CharField):
    """An IANA time zone name such as ``Europe/Paris``, or ``""`` for the site's ``TIME_ZONE``."""

    default_error_messages = {"unknown": "must be an IANA time zone name, got {value!r}"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            allow_blank=True, trim_whitespace=False, max_length=ZONE_MAX_LENGTH, **kwargs
        )

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, IsADirectoryError):
                self.fail("unknown", value=value)
        return value


class UserOutputSerializer(OutputSerializer):
    """A user under the CSV's nine column names: the legacy lookup's shape."""

    user_id = serializers.CharField()
    name = serializers.CharField()
    email = serializers.EmailField()
    signup_date = serializers.DateField()
    age = serializers.IntegerField()
    height_cm = ProfileNumberField(help_text="Centimetres; an integer when whole.")
    weight_kg = ProfileNumberField(help_text="Kilograms; an integer when whole.")
    activity_level = serializers.CharField()
    health_goals = serializers.CharField()


class PreferencesOutputSerializer(OutputSerializer):
    """What a user wants to receive, and when."""

    notifications_enabled = serializers.BooleanField()
    muted_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=NotificationCategory.choices),
        help_text="Categories never to send.",
    )
    send_time = LocalTimeField(
        allow_null=True, help_text='"HH:MM" local time, or null for NOTIFICATIONS_SEND_TIME.'
    )


class UserDetailOutputSerializer(UserOutputSerializer):
    """One user: the nine fields, the zone and the preferences."""

    timezone = serializers.CharField(help_text='IANA zone; "" means the site\'s TIME_ZONE.')
    preferences = PreferencesOutputSerializer(source="*")


class PreferencesSerializer(PreferencesOutputSerializer):
    """The preferences resource (with the zone): validated field by field on PUT and PATCH."""

    timezone = TimeZoneField(help_text='IANA zone, or "" for the site\'s TIME_ZONE.')

    def validate_muted_categories(self, value: list[str]) -> list[str]:
        # Stored once each, in the categories' own order, whatever order they came in.
        return [category for category in NotificationCategory.values if category in value]
