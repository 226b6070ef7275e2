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


class DeliveryBreaker(models.Model):
    """The circuit breaker of one running delivery worker, as the dashboard shows it.

    A worker writes its row only when the breaker changes (opens, a probe fails,
    closes) and deletes it when the run ends, so the table holds one row per worker
    at most and costs nothing while the endpoint is healthy. A row whose next probe
    is long past belongs to a worker that died without cleaning up.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    worker = models.CharField(max_length=200, unique=True, help_text="host:pid of the worker.")
    state = models.CharField(max_length=8, choices=State.choices)
    failures = models.PositiveIntegerField(
        default=0, help_text="Failed attempts in a row when it opened."
    )
    cooldown_seconds = models.FloatField(default=0.0)
    opened_at = models.DateTimeField(null=True, blank=True)
    next_probe_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["worker"]

    def __str__(self) -> str:
        return f"breaker of {self.worker}: {self.state}"
