"""The delivery log: one row per HTTP attempt of a notification, never deleted."""

from __future__ import annotations

from django.db import models


class DeliveryAttempt(models.Model):
    """One POST of a notification to the endpoint, and what came of it."""

    notification = models.ForeignKey(
        "outbox.DailyNotification", on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    http_status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty when no response came (timeout, connection error)."
    )
    error = models.TextField(blank=True, default="")
    response_excerpt = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["notification_id", "started_at"]
        indexes = [models.Index(fields=["started_at"], name="delivery_attempt_started_idx")]

    def __str__(self) -> str:
        outcome = self.http_status if self.http_status is not None else "no response"
        return f"attempt at {self.started_at:%Y-%m-%d %H:%M:%S} → {outcome}"
