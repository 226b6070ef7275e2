"""Prometheus metrics: the queue read from the database at scrape time, and a worker's own counters.

Two kinds, and neither uses the library's global default registry:

- ``/metrics`` on the web process (``metrics_view``) builds a fresh registry per
  scrape holding one ``QueueCollector``, which reads a handful of index-driven
  aggregates when it is collected: nothing is kept between scrapes, so any number
  of web processes report the same figures.
- ``WorkerMetrics`` is a registry owned by one ``runpipeline deliver`` run, served
  on its own port (``--metrics-port``): counters and histograms only that process
  can know (attempts by outcome, durations, its breaker, requests in flight).

The view lives here, beside the collector it serves: what "due" means is
delivery's (the claim's own count), and a view of a few lines does not need an app.
Names carry the ``notifications_`` prefix, base units (seconds), ``_total`` on
counters, and no user or notification ids as labels.
"""

from __future__ import annotations

import datetime
import hmac
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from delivery.claims import notifications_due_count
from delivery.models import DeliveryAttempt
from outbox.models import DailyNotification

PREFIX = "notifications_"
Status = DailyNotification.Status
# Seconds: from a fast local endpoint to one at the attempt deadline's default.
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SETTLE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DELIVERED_WINDOW = datetime.timedelta(hours=1)


class QueueCollector(Collector):
    """The outbox's state as gauges, read from the database each time it is collected.

    Every query is bounded by an index: the status counts read two dates through the
    ``(date, status)`` index, the oldest due instant takes the first entry of each of
    the claim's partial indexes, and the last hour's deliveries are a range of the
    attempt log's ``started_at`` index. The cost follows a day's volume, never the
    table's history.
    """

    def __init__(self, *, now: Callable[[], datetime.datetime] = timezone.now) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now()
        today = timezone.localdate(now)
        days = {"today": today, "yesterday": today - datetime.timedelta(days=1)}
        counts = {
            (date, status): n
            for date, status, n in DailyNotification.objects.filter(date__in=days.values())
            .order_by()
            .values_list("date", "status")
            .annotate(n=Count("id"))
        }
        rows = GaugeMetricFamily(
            f"{PREFIX}outbox_rows",
            "Notifications of today's and yesterday's date (in TIME_ZONE) by status.",
            labels=["day", "status"],
        )
        for label, date in days.items():
            for status in Status.values:
                rows.add_metric([label, status], counts.get((date, status), 0))
        yield rows

        yield GaugeMetricFamily(
            f"{PREFIX}due_rows",
            "Rows a claim could take now (pending and due, or sending with an expired lease).",
            value=notifications_due_count(now=now),
        )
        oldest = oldest_due_at(now=now)
        yield GaugeMetricFamily(
            f"{PREFIX}oldest_due_age_seconds",
            "How long the oldest due row has been due (0 when nothing is due).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}delivered_last_hour",
            "Attempts answered 2xx that started in the last hour.",
            value=DeliveryAttempt.objects.filter(
                started_at__gte=now - DELIVERED_WINDOW,
                http_status__gte=200,
                http_status__lte=299,
            ).count(),
        )


def oldest_due_at(*, now: datetime.datetime) -> datetime.datetime | None:
    """The earliest instant from which a row still waiting has been due, or None.

    A retry is due from its ``next_attempt_at``, a fresh row from its ``send_at``, a
    row whose sender died from its lease's expiry; each is the first entry of its
    partial index.
    """
    pending = DailyNotification.objects.filter(status=Status.PENDING)
    instants = [
        pending.filter(next_attempt_at__lte=now).aggregate(at=Min("next_attempt_at"))["at"],
        pending.filter(next_attempt_at__isnull=True, send_at__lte=now).aggregate(at=Min("send_at"))[
            "at"
        ],
        DailyNotification.objects.filter(status=Status.SENDING, lease_expires_at__lt=now).aggregate(
            at=Min("lease_expires_at")
        )["at"],
    ]
    found = [instant for instant in instants if instant is not None]
    return min(found) if found else None


def metrics_registry() -> CollectorRegistry:
    """A fresh registry with the queue collector: one per scrape, nothing shared between them."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector())
    return registry


def bearer_matches(request: HttpRequest, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text. With ``METRICS_REQUIRE_TOKEN`` (production): 404 without a ``METRICS_TOKEN``
    set, 401 without the right bearer token."""
    if settings.METRICS_REQUIRE_TOKEN:
        if not settings.METRICS_TOKEN:
            raise Http404("metrics are off: METRICS_TOKEN is not set")
        if not bearer_matches(request, settings.METRICS_TOKEN):
            response = HttpResponse("a bearer token is required\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)


class WorkerMetrics:
    """One deliver run's counters, histograms and gauges, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.attempts = Counter(
            f"{PREFIX}delivery_attempts",
            "Attempts whose outcome was written, by what the retry policy made of them.",
            ["outcome"],
            registry=self.registry,
        )
        self.released = Counter(
            f"{PREFIX}delivery_released_rows",
            "Claimed rows given back unsent (stopping, too late for the lease, breaker open).",
            registry=self.registry,
        )
        self.attempt_duration = Histogram(
            f"{PREFIX}delivery_attempt_duration_seconds",
            "Duration of one HTTP attempt, from its start to the end of the body read.",
            buckets=ATTEMPT_BUCKETS,
            registry=self.registry,
        )
        self.settle_duration = Histogram(
            f"{PREFIX}delivery_settle_duration_seconds",
            "Duration of one settle: attempts logged, rows written, unsent rows released.",
            buckets=SETTLE_BUCKETS,
            registry=self.registry,
        )
        self.breaker_open = Gauge(
            f"{PREFIX}delivery_breaker_open",
            "1 while this worker's circuit breaker is open (not claiming), else 0.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{PREFIX}delivery_in_flight_requests",
            "HTTP requests of this worker on the wire now.",
            registry=self.registry,
        )
        self.server = None
        self.thread = None

    def serve(self, *, port: int, host: str = "0.0.0.0") -> int:
        """Serve the registry over HTTP on ``port`` (0: a free one); returns the port bound.

        Every interface by default: the scraper runs elsewhere.
        """
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)
        return self.server.server_port

    def close(self) -> None:
        """Stop serving (if serving)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = self.thread = None
