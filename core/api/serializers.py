"""Serializer pieces every app's API uses: a fast output base, and instants written in UTC."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from rest_framework import serializers


class InstantField(serializers.DateTimeField):
    """An instant as ISO 8601 in UTC ending in ``Z``, whatever ``TIME_ZONE`` is (as the wire format)."""

    def to_representation(self, value: datetime.datetime) -> str:
        return value.astimezone(datetime.UTC).isoformat()[:-6] + "Z"


class OutputSerializer(serializers.Serializer):
    """A serializer for writing objects out, field by field as declared, without DRF's bookkeeping.

    The declared fields stay the contract (the OpenAPI document reads them); writing an
    object reads each field's source attribute and hands a value that is not None to the
    field's own ``to_representation``, as DRF does, without its per-field lookups: lists
    of rows are the API's hot path. The plan is made once per class, so a serializer made
    per request never copies its fields. Sources are plain attributes (``a``, ``a.b``) or ``*``.
    """

    def to_representation(self, instance: Any) -> dict[str, Any]:
        cls = type(self)
        plan = cls.__dict__.get("_output_plan")
        if plan is None:
            plan = [
                (field.field_name, _reader(field), field.to_representation)
                for field in self._readable_fields
            ]
            cls._output_plan = plan
        data = {}
        for name, read, represent in plan:
            value = read(instance)
            data[name] = None if value is None else represent(value)
        return data


def _reader(field: serializers.Field) -> Callable[[Any], Any]:
    if field.source == "*":
        return lambda instance: instance
    return attrgetter(".".join(field.source_attrs))
