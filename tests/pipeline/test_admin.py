"""The delivery review admin: pages for staff, login for others, actions, constant query counts."""

from __future__ import annotations

import datetime
import logging

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from outbox.models import DailyNotification
from tests.factories import notification_create, user_create, users_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status
CHANGELIST = reverse("admin:outbox_dailynotification_changelist")
USERS_CHANGELIST = reverse("admin:accounts_user_changelist")
ATTEMPTS_CHANGELIST = reverse("admin:delivery_deliveryattempt_changelist")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?status__exact=failed",
        "?category__exact=tip",
        "?date__gte=2026-11-22&date__lt=2026-11-23",
        "?generated_by=openai",
        "?generated_by=offline",
        "?generated_by=offline-fallback",
        "?date__year=2026&date__month=11&date__day=22",
        "?q=Alice",
        "?q=alice%40example.com",
        "?o=3",
    ],
)
def test_notification_changelist_renders_for_staff(admin_client, notifications_by_status, query):
    response = admin_client.get(CHANGELIST + query)
    assert response.status_code == 200


def test_notification_changelist_status_filter_lists_only_that_status(
    admin_client, notifications_by_status
):
    response = admin_client.get(CHANGELIST + "?status__exact=failed")
    listed = list(response.context["cl"].result_list)
    assert listed == [notifications_by_status["failed"]]


def test_notification_generated_by_filter_matches_any_openai_model(
    admin_client, notifications_by_status
):
    response = admin_client.get(CHANGELIST + "?generated_by=openai")
    assert list(response.context["cl"].result_list) == [notifications_by_status["failed"]]


def test_notification_generated_by_filter_tells_batch_rows_from_synchronous_ones(
    admin_client, notifications_by_status
):
    batched = notification_create(generated_by="openai-batch:gpt-4o-mini")
    response = admin_client.get(CHANGELIST + "?generated_by=openai-batch")
    assert list(response.context["cl"].result_list) == [batched]
    response = admin_client.get(CHANGELIST + "?generated_by=openai")
    assert list(response.context["cl"].result_list) == [notifications_by_status["failed"]]


def test_notification_generated_by_filter_separates_offline_from_fallback(
    admin_client, notifications_by_status
):
    fallback = notification_create(generated_by="offline-fallback")
    response = admin_client.get(CHANGELIST + "?generated_by=offline-fallback")
    assert list(response.context["cl"].result_list) == [fallback]
    response = admin_client.get(CHANGELIST + "?generated_by=offline")
    listed = set(response.context["cl"].result_list)
    assert fallback not in listed
    assert notifications_by_status["failed"] not in listed
    assert len(listed) == len(notifications_by_status) - 1


def test_notification_search_by_exact_user_id(admin_client, notifications_by_status):
    target = notifications_by_status["delivered"]
    response = admin_client.get(CHANGELIST + f"?q={target.user_id}")
    assert list(response.context["cl"].result_list) == [target]


def test_notification_search_by_email_part(admin_client, notifications_by_status):
    response = admin_client.get(CHANGELIST + "?q=alice%40example")
    assert list(response.context["cl"].result_list) == [notifications_by_status["pending_later"]]


def test_notification_change_page_shows_attempts_read_only(admin_client, notifications_by_status):
    from delivery.models import DeliveryAttempt

    notification = notifications_by_status["failed"]
    DeliveryAttempt.objects.create(
        notification=notification,
        started_at=datetime.datetime(2026, 11, 22, 6, 0, tzinfo=datetime.UTC),
        duration_ms=12,
        http_status=400,
        error="HTTP 400",
    )
    url = reverse("admin:outbox_dailynotification_change", args=[notification.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0]
    assert not inline.has_add_permission
    assert not inline.has_change_permission
    assert not inline.has_delete_permission
    assert b"HTTP 400" in response.content


@pytest.mark.parametrize(
    "url",
    [
        CHANGELIST,
        USERS_CHANGELIST,
        ATTEMPTS_CHANGELIST,
        reverse("admin:index"),
        reverse("pipeline:dashboard"),
    ],
)
def test_admin_pages_send_anonymous_users_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_notification_change_page_sends_anonymous_users_to_login(client, notifications_by_status):
    url = reverse(
        "admin:outbox_dailynotification_change", args=[notifications_by_status["failed"].pk]
    )
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_admin_index_links_the_dashboard(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert reverse("pipeline:dashboard").encode() in response.content


@pytest.mark.parametrize(
    "query",
    ["", "?activity_level=High", "?health_goals=Heart+Health", "?q=Alice", "?q=u1"],
)
def test_app_user_changelist_renders_for_staff(admin_client, notifications_by_status, query):
    response = admin_client.get(USERS_CHANGELIST + query)
    assert response.status_code == 200


def test_app_user_search_by_name_part(admin_client):
    alice = user_create(name="Alice Smith")
    user_create(name="Bob Jones")
    response = admin_client.get(USERS_CHANGELIST + "?q=alice")
    assert list(response.context["cl"].result_list) == [alice]


def test_app_user_admin_is_named_app_users(admin_client):
    response = admin_client.get(USERS_CHANGELIST)
    assert b"App users" in response.content or b"app users" in response.content
    assert User._meta.verbose_name_plural == "app users"


def test_attempt_changelist_renders_for_staff(admin_client, notifications_by_status):
    assert admin_client.get(ATTEMPTS_CHANGELIST).status_code == 200


def run_action(admin_client, action: str, notifications: list[DailyNotification]):
    return admin_client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(n.pk) for n in notifications]},
        follow=True,
    )


def statuses(notifications: dict[str, DailyNotification]) -> dict[str, tuple]:
    fresh = {n.pk: n for n in DailyNotification.objects.all()}
    return {
        key: (
            fresh[n.pk].status,
            fresh[n.pk].attempts,
            fresh[n.pk].next_attempt_at,
            fresh[n.pk].last_error,
        )
        for key, n in notifications.items()
    }


def test_retry_now_makes_only_waiting_pending_rows_due(admin_client, notifications_by_status):
    before = statuses(notifications_by_status)
    response = run_action(admin_client, "retry_now", list(notifications_by_status.values()))
    after = statuses(notifications_by_status)
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {"pending_later"}
    assert after["pending_later"][2] <= datetime.datetime.now(datetime.UTC)
    assert after["pending_later"][1] == 2  # attempts kept: a retry is not a fresh start
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages and messages[0].startswith("1 notifications made due now")


@pytest.mark.parametrize(
    ("action", "logged"),
    [
        ("retry_now", "pipeline.admin_retry_now"),
        ("requeue_failed", "pipeline.admin_requeue_failed"),
    ],
)
def test_actions_log_what_they_changed_and_who(
    admin_client, admin_user, notifications_by_status, caplog, action, logged
):
    with caplog.at_level(logging.INFO, logger="pipeline"):
        run_action(admin_client, action, list(notifications_by_status.values()))
    record = next(r for r in caplog.records if getattr(r, "action", "") == logged)
    assert (record.log_rows, record.log_staff) == (1, admin_user)
    assert record.getMessage() == f"action={logged} rows=1 staff={admin_user}"


def test_retry_now_leaves_unselected_rows_alone(admin_client, notifications_by_status):
    other = notification_create(
        date=datetime.date(2026, 11, 21),
        status=Status.PENDING,
        next_attempt_at=datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC),
    )
    run_action(admin_client, "retry_now", [notifications_by_status["pending_later"]])
    other.refresh_from_db()
    assert other.next_attempt_at.year == 2099


def test_requeue_failed_resets_only_failed_rows(admin_client, notifications_by_status):
    before = statuses(notifications_by_status)
    response = run_action(admin_client, "requeue_failed", list(notifications_by_status.values()))
    after = statuses(notifications_by_status)
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {"failed"}
    status, attempts, next_attempt_at, last_error = after["failed"]
    assert (status, attempts, last_error) == (Status.PENDING, 0, "")
    assert next_attempt_at <= datetime.datetime.now(datetime.UTC)
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages and messages[0].startswith("1 notifications requeued")


def test_requeue_failed_across_a_filtered_selection_is_one_update(
    admin_client, notifications_by_status
):
    ticked = notifications_by_status["failed"]
    for _ in range(5):
        notification_create(status=Status.FAILED, attempts=8)
    with CaptureQueriesContext(connection) as captured:
        # "Select all N" in the list: the page's ticked rows plus select_across.
        admin_client.post(
            CHANGELIST + "?status__exact=failed",
            {
                "action": "requeue_failed",
                "select_across": "1",
                "index": "0",
                "_selected_action": [str(ticked.pk)],
            },
        )
    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert not DailyNotification.objects.filter(status=Status.FAILED).exists()


def changelist_query_count(admin_client, query: str = "") -> int:
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(CHANGELIST + query)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("query", ["", "?status__exact=pending", "?q=Test"])
def test_changelist_query_count_does_not_grow_with_rows(admin_client, query):
    users = users_create(3)
    for user in users:
        notification_create(user=user)
    few = changelist_query_count(admin_client, query)
    for user in users_create(60):
        notification_create(user=user, status=Status.PENDING)
    assert changelist_query_count(admin_client, query) == few


def test_paginator_caps_the_count_of_a_filtered_list(admin_client, monkeypatch):
    monkeypatch.setattr("pipeline.admin.EXACT_COUNT_CAP", 5)
    for user in users_create(8):
        notification_create(user=user)
    response = admin_client.get(CHANGELIST + "?status__exact=pending")
    assert response.context["cl"].result_count == 5


def test_date_hierarchy_runs_no_distinct_scan(admin_client, notifications_by_status):
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert not [q for q in captured.captured_queries if "DISTINCT" in q["sql"]]
    assert b"date__day=22" in response.content


@pytest.mark.parametrize(
    ("first", "last", "kind", "expected"),
    [
        ("2025-12-30", "2026-01-02", "year", ["2025-01-01", "2026-01-01"]),
        ("2025-11-15", "2026-01-02", "month", ["2025-11-01", "2025-12-01", "2026-01-01"]),
        ("2026-02-27", "2026-03-01", "day", ["2026-02-27", "2026-02-28", "2026-03-01"]),
    ],
)
def test_calendar_dates(first, last, kind, expected):
    from pipeline.admin import calendar_dates

    result = calendar_dates(
        datetime.date.fromisoformat(first),
        datetime.date.fromisoformat(last),
        kind=kind,
        descending=False,
    )
    assert result == [datetime.date.fromisoformat(day) for day in expected]


def test_search_by_name_part_finds_every_notification_of_the_user(admin_client):
    alice = user_create(name="Alice Smith")
    mine = [notification_create(user=alice, date=datetime.date(2026, 11, day)) for day in (20, 21)]
    notification_create(user=user_create(name="Bob Jones"))
    response = admin_client.get(CHANGELIST + "?q=smith")
    assert set(response.context["cl"].result_list) == set(mine)


def test_search_matching_many_users_falls_back_to_a_subquery(admin_client, monkeypatch):
    monkeypatch.setattr("pipeline.admin.SEARCH_USERS_CAP", 2)
    users = users_create(4, name="Same Name")
    for user in users:
        notification_create(user=user)
    response = admin_client.get(CHANGELIST + "?q=same")
    assert len(response.context["cl"].result_list) == 4


@pytest.mark.postgres_only
def test_unfiltered_list_reads_the_planner_estimate_instead_of_counting(admin_client, monkeypatch):
    monkeypatch.setattr("pipeline.admin.EXACT_COUNT_CAP", 10)
    for user in users_create(30):
        notification_create(user=user)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE outbox_dailynotification")
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(CHANGELIST)
    assert response.context["cl"].result_count == 30
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize("action", ["retry_now", "requeue_failed"])
def test_actions_send_anonymous_users_to_login(client, notifications_by_status, action):
    failed = notifications_by_status["failed"]
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [str(failed.pk)]})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


# The delivery window and the final statuses it brings.


@pytest.fixture
def window_rows(db) -> dict[str, DailyNotification]:
    """An expired, a cancelled and a pending row with their windows."""
    send_at = datetime.datetime(2026, 11, 22, 7, 0, tzinfo=datetime.UTC)
    expires_at = datetime.datetime(2026, 11, 22, 20, 0, tzinfo=datetime.UTC)
    return {
        status: notification_create(status=status, send_at=send_at, expires_at=expires_at)
        for status in (Status.EXPIRED, Status.CANCELLED, Status.PENDING)
    }


@pytest.mark.parametrize("status", [Status.EXPIRED, Status.CANCELLED])
def test_the_status_filter_offers_and_applies_the_new_statuses(admin_client, window_rows, status):
    response = admin_client.get(CHANGELIST)
    assert f"?status__exact={status.value}".encode() in response.content

    response = admin_client.get(CHANGELIST + f"?status__exact={status.value}")

    assert list(response.context["cl"].result_list) == [window_rows[status]]


def test_the_list_shows_send_at_and_expires_at(admin_client, window_rows):
    response = admin_client.get(CHANGELIST)

    assert b"column-send_at" in response.content
    assert b"column-expires_at" in response.content
    assert b"field-send_at" in response.content
    assert b"field-expires_at" in response.content


def test_the_change_page_shows_the_window_read_only(admin_client, window_rows):
    notification = window_rows[Status.EXPIRED]
    url = reverse("admin:outbox_dailynotification_change", args=[notification.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
    admin_form = response.context["adminform"]
    fields = {name for fieldset in admin_form for line in fieldset for name in line.fields}
    assert {"send_at", "expires_at"} <= fields
    assert {"send_at", "expires_at"} <= set(admin_form.readonly_fields)
    # TIME_ZONE is UTC in the tests: the instants read as stored.
    assert b"Nov. 22, 2026, 7 a.m." in response.content
    assert b"Nov. 22, 2026, 8 p.m." in response.content


@pytest.mark.parametrize("query", ["?status__exact=expired", "?status__exact=cancelled"])
def test_query_count_of_the_new_status_filters_does_not_grow_with_rows(admin_client, query):
    status = query.rsplit("=", 1)[1]
    for user in users_create(3):
        notification_create(user=user, status=status)
    few = changelist_query_count(admin_client, query)
    for user in users_create(60):
        notification_create(user=user, status=status)
    assert changelist_query_count(admin_client, query) == few
