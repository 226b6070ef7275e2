"""How the API writes a notification."""

from __future__ import annotations

from rest_framework import serializers

from core.api.serializers import InstantField, OutputSerializer
from outbox.models import DailyNotification


class NotificationOutputSerializer(OutputSerializer):
    """One row of a user's history."""

    id = serializers.UUIDField()
    date = serializers.DateField(help_text="The user's local date the notification is for.")
    category = serializers.ChoiceField(choices=DailyNotification.Category.choices)
    title = serializers.CharField()
    message = serializers.CharField(source="body")
    status = serializers.ChoiceField(choices=DailyNotification.Status.choices)
    attempts = serializers.IntegerField(help_text="Delivery attempts made so far.")
    generated_by = serializers.CharField()
    send_at = InstantField(help_text="Not sent before this instant.")
    expires_at = InstantField(
        allow_null=True, help_text="Not sent at or after this instant; null: no expiry."
    )
    delivered_at = InstantField(allow_null=True)
    last_error = serializers.CharField(help_text='"" when there was none.')
