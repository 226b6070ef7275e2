"""The fast output serializers write exactly what DRF's own ``to_representation`` writes."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from rest_framework import serializers

from accounts.serializers import UserDetailOutputSerializer
from delivery.models import DeliveryAttempt
from pipeline.notifications import notification_get
from pipeline.serializers import NotificationDetailOutputSerializer
from tests.factories import notification_create, user_create

pytestmark = pytest.mark.django_db


def drf_representation(serializer_class, instance) -> dict:
    """What DRF's stock Serializer.to_representation makes of ``instance``, nested fields included."""

    def stock(serializer, value):
        data = {}
        for field in serializer._readable_fields:
            attribute = field.get_attribute(value)
            if attribute is None:
                data[field.field_name] = None
            elif isinstance(field, serializers.ListSerializer):
                data[field.field_name] = [stock(field.child, item) for item in attribute]
            elif isinstance(field, serializers.Serializer):
                data[field.field_name] = stock(field, attribute)
            else:
                data[field.field_name] = field.to_representation(attribute)
        return data

    return stock(serializer_class(), instance)


def test_a_user_with_nested_preferences():
    user = user_create(send_time=datetime.time(6, 5), muted_categories=["tip"])
    user.refresh_from_db()

    assert UserDetailOutputSerializer(user).data == drf_representation(
        UserDetailOutputSerializer, user
    )


def test_a_notification_with_its_attempts_and_null_instants():
    row = notification_create(expires_at=None, delivered_at=None)
    DeliveryAttempt.objects.create(
        notification=row, started_at=timezone.now(), duration_ms=5, http_status=None, error="x"
    )
    row = notification_get(notification_id=row.id)

    data = NotificationDetailOutputSerializer(row).data

    assert data == drf_representation(NotificationDetailOutputSerializer, row)
    assert data["expires_at"] is None and data["attempts_log"][0]["http_status"] is None
