"""Selectors for the delivery dashboard: a fixed handful of aggregate queries at any row count.

Everything comes from four queries: one ``GROUP BY date, status, category, attempts``
over the window of dates, from which the daily counts, the rates and the histogram of
attempts behind the median are all derived; one ``GROUP BY date, lag bucket`` of the
delivered rows, behind the on-time rate and the lag percentiles; and one
``MIN(created_at)`` of the pending rows; and one ``GROUP BY date, batch or not`` summing
the model's tokens, behind the tokens per day and their estimated cost. Rows are never
loaded one by one, so the number of queries is the same at a thousand rows as at a
million. The delivery workers' circuit breakers are one more small read (a row per
worker at most).
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import NotSupportedError, models
from django.db.models import Case, Count, F, Func, Min, Q, Sum, Value, When
from django.db.models.functions import Floor
from django.db.models.lookups import LessThan
from django.utils import timezone

from delivery.models import DeliveryBreaker
from outbox.generators.base import OPENAI_BATCH_GENERATED_BY_PREFIX
from outbox.models import DailyNotification

Status = DailyNotification.Status
Category = DailyNotification.Category

DASHBOARD_DAYS = 14
# Delivered within this long after its send time counts as on time.
ON_TIME = datetime.timedelta(minutes=5)
# Lags are counted in buckets this wide below each bound, so the percentiles cost one
# GROUP BY of a few hundred groups a day; a bucket's lower edge stands for its rows.
LAG_BUCKETS = ((60, 1), (3600, 10), (86_400, 300))
# An open breaker whose probe is this far overdue belongs to a worker that stopped
# without cleaning up (killed): shown as stale, not as an endpoint still failing.
BREAKER_STALE_AFTER = datetime.timedelta(seconds=60)


class LagSeconds(Func):
    """Seconds from ``send_at`` to ``delivered_at``, as a number, on either database."""

    output_field = models.FloatField()

    def __init__(self) -> None:
        super().__init__(F("delivered_at"), F("send_at"))

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"lag in seconds is not written for {connection.vendor}")

    def as_sqlite(self, compiler, connection, **extra_context):
        # julianday() is a float of days: rounded to the millisecond, whole seconds stay whole.
        template = "ROUND((julianday(%(expressions)s) - julianday(%(second)s)) * 86400.0, 3)"
        delivered, send = (compiler.compile(expression) for expression in self.source_expressions)
        sql = template % {"expressions": delivered[0], "second": send[0]}
        return sql, (*delivered[1], *send[1])

    def as_postgresql(self, compiler, connection, **extra_context):
        delivered, send = (compiler.compile(expression) for expression in self.source_expressions)
        return f"EXTRACT(EPOCH FROM ({delivered[0]} - {send[0]}))", (*delivered[1], *send[1])


def lag_bucket() -> Case:
    """The lower edge, in whole seconds, of the bucket a delivered row's lag falls in."""
    lag = LagSeconds()
    whens = []
    for bound, width in LAG_BUCKETS:
        whens.append(When(LessThan(lag, bound), then=Floor(lag / width) * width))
    return Case(
        When(LessThan(lag, 0), then=Value(0.0)),
        *whens,
        default=Value(float(LAG_BUCKETS[-1][0])),
        output_field=models.FloatField(),
    )


@dataclass(frozen=True, kw_only=True)
class DayCounts:
    """One date's notifications counted by status and by category."""

    date: datetime.date
    by_status: dict[str, int]
    by_category: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def delivered(self) -> int:
        return self.by_status[Status.DELIVERED]

    @property
    def failed(self) -> int:
        return self.by_status[Status.FAILED]


@dataclass(frozen=True, kw_only=True)
class DayLag:
    """How late one date's delivered rows arrived after their send time."""

    date: datetime.date
    delivered: int
    on_time_rate: float | None
    median_seconds: float | None
    p95_seconds: float | None

    @property
    def on_time_percent(self) -> float | None:
        return None if self.on_time_rate is None else 100 * self.on_time_rate


@dataclass(frozen=True, kw_only=True)
class BreakerStatus:
    """One delivery worker's circuit breaker as it last wrote it."""

    worker: str
    state: str
    failures: int
    cooldown_seconds: float
    opened_at: datetime.datetime | None
    next_probe_at: datetime.datetime | None
    updated_at: datetime.datetime
    stale: bool

    @property
    def is_open(self) -> bool:
        return self.state == DeliveryBreaker.State.OPEN


def breakers_list(*, now: datetime.datetime) -> list[BreakerStatus]:
    """Every running worker's breaker that has changed state (a healthy one writes no row)."""
    return [
        BreakerStatus(
            worker=row.worker,
            state=row.state,
            failures=row.failures,
            cooldown_seconds=row.cooldown_seconds,
            opened_at=row.opened_at,
            next_probe_at=row.next_probe_at,
            updated_at=row.updated_at,
            stale=row.state == DeliveryBreaker.State.OPEN
            and row.next_probe_at is not None
            and now - row.next_probe_at > BREAKER_STALE_AFTER,
        )
        for row in DeliveryBreaker.objects.all()
    ]


@dataclass(frozen=True, kw_only=True)
class DayTokens:
    """One date's model tokens, synchronous and through the Batch API, and what they cost."""

    date: datetime.date
    prompt_tokens: int = 0
    completion_tokens: int = 0
    batch_prompt_tokens: int = 0
    batch_completion_tokens: int = 0

    @property
    def total_prompt_tokens(self) -> int:
        return self.prompt_tokens + self.batch_prompt_tokens

    @property
    def total_completion_tokens(self) -> int:
        return self.completion_tokens + self.batch_completion_tokens

    @property
    def cost(self) -> float:
        """The estimated cost in dollars (see ``tokens_cost``)."""
        return tokens_cost(
            prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens
        ) + tokens_cost(
            prompt_tokens=self.batch_prompt_tokens,
            completion_tokens=self.batch_completion_tokens,
            batch=True,
        )


def tokens_cost(*, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
    """Dollars for these tokens at the per-million prices in settings; batch at its discount."""
    dollars = (
        prompt_tokens * settings.OPENAI_PRICE_INPUT_PER_MTOK
        + completion_tokens * settings.OPENAI_PRICE_OUTPUT_PER_MTOK
    ) / 1_000_000
    return dollars * (1 - settings.OPENAI_BATCH_DISCOUNT) if batch else dollars


@dataclass(frozen=True, kw_only=True)
class DashboardStats:
    """What the dashboard shows: the window's days (oldest first), rates and the queue's age."""

    today: datetime.date
    days: list[DayCounts]
    window_by_status: dict[str, int]
    window_by_category: dict[str, int]
    success_rate: float | None
    today_success_rate: float | None
    median_attempts: float | None
    lags: list[DayLag]
    oldest_pending_created_at: datetime.datetime | None
    oldest_pending_age: datetime.timedelta | None
    # One per day of ``days``, oldest first.
    tokens: list[DayTokens]

    @property
    def today_tokens(self) -> DayTokens:
        return self.tokens[-1]

    @property
    def window_tokens(self) -> DayTokens:
        """The window's tokens summed (dated ``today``)."""
        return DayTokens(
            date=self.today,
            prompt_tokens=sum(day.prompt_tokens for day in self.tokens),
            completion_tokens=sum(day.completion_tokens for day in self.tokens),
            batch_prompt_tokens=sum(day.batch_prompt_tokens for day in self.tokens),
            batch_completion_tokens=sum(day.batch_completion_tokens for day in self.tokens),
        )

    breakers: list[BreakerStatus] = field(default_factory=list)

    @property
    def breakers_open(self) -> list[BreakerStatus]:
        """The breakers open now (stale ones left out: their worker is gone)."""
        return [breaker for breaker in self.breakers if breaker.is_open and not breaker.stale]

    @property
    def today_counts(self) -> DayCounts:
        return self.days[-1]

    @property
    def today_lag(self) -> DayLag:
        return self.lags[-1]

    @property
    def days_with_lags(self) -> list[tuple[DayCounts, DayLag]]:
        return list(zip(self.days, self.lags, strict=True))

    @property
    def window_total(self) -> int:
        return sum(self.window_by_status.values())

    @property
    def success_percent(self) -> float | None:
        return None if self.success_rate is None else 100 * self.success_rate

    @property
    def today_success_percent(self) -> float | None:
        return None if self.today_success_rate is None else 100 * self.today_success_rate


@dataclass(frozen=True, kw_only=True)
class ChartBar:
    """A bar of the delivered/failed chart, in SVG user units."""

    date: datetime.date
    kind: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, kw_only=True)
class Chart:
    """An inline SVG bar chart of delivered and failed rows per day."""

    width: int
    height: int
    baseline: float
    max_value: int
    bars: list[ChartBar]
    labels: list[tuple[float, str]]


def success_rate_compute(*, delivered: int, failed: int) -> float | None:
    """delivered / (delivered + failed): rows still pending or sending are not counted either way."""
    finished = delivered + failed
    return delivered / finished if finished else None


def median_from_histogram(histogram: dict[int, int]) -> float | None:
    """The median of values given as ``{value: how many}``; None when empty."""
    total = sum(histogram.values())
    if not total:
        return None
    # The median sits at positions (total - 1) // 2 and total // 2 (the same one when odd).
    wanted = {(total - 1) // 2, total // 2}
    picked: list[int] = []
    seen = 0
    for value in sorted(histogram):
        count = histogram[value]
        picked.extend(value for position in sorted(wanted) if seen <= position < seen + count)
        seen += count
    return sum(picked) / len(picked)


def percentile_from_histogram(histogram: dict[float, int], fraction: float) -> float | None:
    """The value at ``fraction`` (nearest rank) of values given as ``{value: how many}``."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, -(-round(fraction * total * 1_000_000) // 1_000_000))  # ceil, float-safe
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)


def day_lag_build(*, date: datetime.date, histogram: dict[float, int]) -> DayLag:
    """The on-time rate and lag percentiles of one date from its bucketed lags."""
    delivered = sum(histogram.values())
    on_time = sum(n for lag, n in histogram.items() if lag < ON_TIME.total_seconds())
    return DayLag(
        date=date,
        delivered=delivered,
        on_time_rate=on_time / delivered if delivered else None,
        median_seconds=percentile_from_histogram(histogram, 0.5),
        p95_seconds=percentile_from_histogram(histogram, 0.95),
    )


def dashboard_stats(
    *,
    today: datetime.date | None = None,
    now: datetime.datetime | None = None,
    days: int = DASHBOARD_DAYS,
) -> DashboardStats:
    """The dashboard's figures for the ``days`` dates ending ``today`` (default: today in TIME_ZONE)."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    first = today - datetime.timedelta(days=days - 1)
    window = DailyNotification.objects.filter(date__gte=first, date__lte=today)

    per_day_status: dict[datetime.date, Counter] = {}
    per_day_category: dict[datetime.date, Counter] = {}
    histogram: Counter = Counter()
    # One scan of the window; attempts are bounded (NOTIFICATIONS_MAX_ATTEMPTS), so the
    # groups stay at most days x statuses x categories x attempts, a few hundred rows.
    grouped = (
        window.order_by()
        .values_list("date", "status", "category", "attempts")
        .annotate(n=Count("id"))
    )
    for date, status, category, attempts, n in grouped:
        per_day_status.setdefault(date, Counter())[status] += n
        per_day_category.setdefault(date, Counter())[category] += n
        if status == Status.DELIVERED:
            histogram[attempts] += n

    day_list = [
        DayCounts(
            date=date,
            by_status={s: per_day_status.get(date, Counter())[s] for s in Status.values},
            by_category={c: per_day_category.get(date, Counter())[c] for c in Category.values},
        )
        for date in (first + datetime.timedelta(days=offset) for offset in range(days))
    ]
    window_by_status = {s: sum(day.by_status[s] for day in day_list) for s in Status.values}
    window_by_category = {c: sum(day.by_category[c] for day in day_list) for c in Category.values}

    lag_histograms: dict[datetime.date, Counter] = {}
    lagged = (
        window.filter(status=Status.DELIVERED, delivered_at__isnull=False)
        .order_by()
        .annotate(bucket=lag_bucket())
        .values_list("date", "bucket")
        .annotate(n=Count("id"))
    )
    for date, bucket, n in lagged:
        lag_histograms.setdefault(date, Counter())[bucket] += n
    lags = [
        day_lag_build(date=day.date, histogram=dict(lag_histograms.get(day.date, {})))
        for day in day_list
    ]

    oldest = DailyNotification.objects.filter(status=Status.PENDING).aggregate(
        oldest=Min("created_at")
    )["oldest"]

    return DashboardStats(
        tokens=tokens_per_day(window=window, dates=[day.date for day in day_list]),
        today=today,
        days=day_list,
        window_by_status=window_by_status,
        window_by_category=window_by_category,
        success_rate=success_rate_compute(
            delivered=window_by_status[Status.DELIVERED], failed=window_by_status[Status.FAILED]
        ),
        today_success_rate=success_rate_compute(
            delivered=day_list[-1].delivered, failed=day_list[-1].failed
        ),
        median_attempts=median_from_histogram(dict(histogram)),
        lags=lags,
        oldest_pending_created_at=oldest,
        oldest_pending_age=(now - oldest) if oldest else None,
        breakers=breakers_list(now=now),
    )


def tokens_per_day(
    *, window: models.QuerySet[DailyNotification], dates: list[datetime.date]
) -> list[DayTokens]:
    """The model's tokens of each of ``dates`` (one ``GROUP BY`` of the window's model rows)."""
    sums = (
        window.filter(Q(prompt_tokens__isnull=False) | Q(completion_tokens__isnull=False))
        .order_by()
        .annotate(
            batch=Case(
                When(generated_by__startswith=OPENAI_BATCH_GENERATED_BY_PREFIX, then=Value(True)),
                default=Value(False),
                output_field=models.BooleanField(),
            )
        )
        .values_list("date", "batch")
        .annotate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    )
    found: dict[datetime.date, dict[str, int]] = {}
    for date, batch, prompt, completion in sums:
        prefix = "batch_" if batch else ""
        day = found.setdefault(date, {})
        day[f"{prefix}prompt_tokens"] = prompt or 0
        day[f"{prefix}completion_tokens"] = completion or 0
    return [DayTokens(date=date, **found.get(date, {})) for date in dates]


def chart_build(*, days: list[DayCounts], width: int = 720, height: int = 220) -> Chart:
    """Bars of delivered (left) and failed (right) per day, scaled to the busiest day."""
    top, bottom, left = 22.0, 30.0, 10.0  # top leaves room for the legend line
    baseline = height - bottom
    usable = baseline - top
    max_value = max([day.delivered for day in days] + [day.failed for day in days] + [0])
    slot = (width - 2 * left) / max(len(days), 1)
    bar_width = slot * 0.38
    bars: list[ChartBar] = []
    labels: list[tuple[float, str]] = []
    for index, day in enumerate(days):
        x0 = left + index * slot + slot * 0.1
        for offset, kind, value in ((0, "delivered", day.delivered), (1, "failed", day.failed)):
            bar_height = usable * value / max_value if max_value else 0.0
            bars.append(
                ChartBar(
                    date=day.date,
                    kind=kind,
                    value=value,
                    x=round(x0 + offset * bar_width, 2),
                    y=round(baseline - bar_height, 2),
                    width=round(bar_width, 2),
                    height=round(bar_height, 2),
                )
            )
        labels.append((round(left + index * slot + slot / 2, 2), day.date.strftime("%d %b")))
    return Chart(
        width=width, height=height, baseline=baseline, max_value=max_value, bars=bars, labels=labels
    )
