"""How the API writes one notification with its attempt log."""

from __future__ import annotations

from rest_framework import serializers

from core.api.serializers import InstantField, OutputSerializer
from outbox.serializers import NotificationOutputSerializer


class AttemptOutputSerializer(OutputSerializer):
    """One HTTP attempt of a delivery."""

    started_at = InstantField()
    duration_ms = serializers.IntegerField()
    http_status = serializers.IntegerField(
        allow_null=True, help_text="null when no response came (timeout, connection error)."
    )
    error = serializers.CharField(help_text='"" when there was none.')


class NotificationDetailOutputSerializer(NotificationOutputSerializer):
    """A notification, whose user it is, and every attempt to deliver it, oldest first."""

    user_id = serializers.CharField()
    attempts_log = AttemptOutputSerializer(many=True)
