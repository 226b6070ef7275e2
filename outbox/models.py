"""The outbox: one notification per user per date, the contract between generation and delivery."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import NotificationCategory


class DailyNotification(models.Model):
    """A user's notification for one date; generation inserts it, delivery moves its status."""

    # Defined with the user's preferences, which name categories to mute.
    Category = NotificationCategory

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        # The delivery window closed before the row was delivered; never sent again.
        EXPIRED = "expired", "Expired"
        # The user opted out or muted the category after the row was written.
        CANCELLED = "cancelled", "Cancelled"

    # The final statuses: a row in one of them never moves again on its own.
    FINAL_STATUSES = (Status.DELIVERED, Status.FAILED, Status.EXPIRED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the unique (user, date) index leads with the user and serves
    # every lookup by user; a second one only slows inserts and tempts the planner into
    # sorting a user's whole history to find their latest row.
    user = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        related_name="daily_notifications",
        db_index=False,
    )
    # The user's local date: the day the notification is for.
    date = models.DateField()
    category = models.CharField(max_length=16, choices=Category.choices)
    # Wider than the bound generators keep to (``outbox.generators.base.TITLE_MAX_CHARS``).
    title = models.CharField(max_length=200)
    body = models.TextField()
    generated_by = models.CharField(max_length=100)
    # The defaults a new row starts from are the database's too, so bulk writes
    # (``outbox.rows``) leave these columns out.
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        db_default=Status.PENDING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", db_default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    # The delivery window: never sent before send_at, nor at or after expires_at (null: no expiry).
    send_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    # What the model's answer cost (null for offline text).
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "date"], name="one_notification_per_user_per_day"
            ),
        ]
        indexes = [
            # The delivery claim: due pending rows, oldest due first.
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_due_pending_idx",
                condition=Q(status="pending"),
            ),
            # The delivery claim: fresh rows whose window has opened, earliest first.
            models.Index(
                fields=["send_at"],
                name="outbox_fresh_send_at_idx",
                condition=Q(status="pending", next_attempt_at__isnull=True),
            ),
            # The delivery claim: pending rows whose window has closed, to expire them.
            models.Index(
                fields=["expires_at"],
                name="outbox_pending_expiry_idx",
                condition=Q(status="pending", expires_at__isnull=False),
            ),
            # The delivery claim: rows whose sender's lease ran out.
            models.Index(
                fields=["lease_expires_at"],
                name="outbox_expired_lease_idx",
                condition=Q(status="sending"),
            ),
            # The admin list and the dashboard: by date, then status and category.
            models.Index(fields=["date", "status"], name="outbox_date_status_idx"),
        ]
        ordering = ["-date", "user_id"]

    def __str__(self) -> str:
        return f"{self.date} {self.category} for {self.user_id}"


class GenerationBatch(models.Model):
    """One OpenAI Batch API job: a file of next-day requests, where it stands, and what came of it.

    The status is the API's, plus two of our own around it: ``preparing`` while a run
    is still writing the requests (nothing sent yet), ``abandoned`` when that run
    died before sending them. A batch is open until ``closed_at``: its answers taken
    in; who got no row is the normal path's from then on.
    """

    class Status(models.TextChoices):
        PREPARING = "preparing", "Preparing"
        VALIDATING = "validating", "Validating"
        IN_PROGRESS = "in_progress", "In progress"
        FINALIZING = "finalizing", "Finalizing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"
        ABANDONED = "abandoned", "Abandoned"

    # The API's statuses after which nothing more will be answered.
    FINISHED_STATUSES = (Status.COMPLETED, Status.FAILED, Status.EXPIRED, Status.CANCELLED)

    remote_id = models.CharField(max_length=100, blank=True, default="")
    input_file_id = models.CharField(max_length=100, blank=True, default="")
    output_file_id = models.CharField(max_length=100, blank=True, default="")
    error_file_id = models.CharField(max_length=100, blank=True, default="")
    model = models.CharField(max_length=100)
    # The users' local dates the requests are for.
    first_date = models.DateField(null=True, blank=True)
    last_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PREPARING, db_index=True
    )
    request_count = models.PositiveIntegerField(default=0)
    # As the API counts them while the batch runs.
    completed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    # Once closed: answers that became rows, users handed back to the normal path.
    answered_count = models.PositiveIntegerField(default=0)
    returned_count = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["remote_id"],
                name="one_generation_batch_per_remote_id",
                condition=~Q(remote_id=""),
            ),
        ]
        indexes = [
            # Every generate run polls the open batches.
            models.Index(
                fields=["id"], name="outbox_open_batch_idx", condition=Q(closed_at__isnull=True)
            ),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"batch {self.remote_id or self.pk} ({self.status}, {self.request_count} requests)"


class GenerationBatchRequest(models.Model):
    """A user's notification for a date that a batch was asked to write.

    The unique (user, date) keeps a user out of two batches for the same date: a
    batch's users are never taken by another, and those it did not answer are the
    normal path's. Kept after the batch closes until the date is past; with an open
    batch, it says the user is in flight.
    """

    batch = models.ForeignKey(GenerationBatch, on_delete=models.CASCADE, related_name="requests")
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    date = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "date"], name="one_open_batch_request_per_user_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} for {self.user_id} in batch {self.batch_id}"
