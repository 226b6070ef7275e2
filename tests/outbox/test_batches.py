"""The Batch API path end to end, through the real ``openai`` client against the local fake."""

from __future__ import annotations

import datetime
import json
import logging

import pytest

from accounts.models import User
from outbox.batches import BATCH_AHEAD, batch_groups_ahead, batches_run
from outbox.categories import category_for
from outbox.generation import notifications_generate
from outbox.generators import UnknownGenerator, default_generator_name, generator_for
from outbox.generators.batch import custom_id_for
from outbox.generators.openai_chat import chat_request_body
from outbox.models import DailyNotification, GenerationBatch, GenerationBatchRequest
from tests.factories import notification_create, user_create, users_create
from tests.fake_openai import MODEL, ErrorLine, MalformedLine, Missing, OutputLine
from tests.outbox.insert_threads import insert_thread_alive

pytestmark = pytest.mark.django_db

# 06:00 UTC: a user at the default 08:00 UTC opens tomorrow's window 26 h from now.
NOW = datetime.datetime(2026, 11, 22, 6, 0, tzinfo=datetime.UTC)
TOMORROW = datetime.date(2026, 11, 23)
BATCH_GENERATED_BY = f"openai-batch:{MODEL}"
Status = GenerationBatch.Status


@pytest.fixture
def batch_settings(openai_settings):
    openai_settings.TIME_ZONE = "UTC"
    openai_settings.NOTIFICATIONS_SEND_TIME = datetime.time(8, 0)
    openai_settings.NOTIFICATIONS_DELIVER_UNTIL = datetime.time(21, 0)
    return openai_settings


def run(*, submit: bool = True, now: datetime.datetime = NOW, **limits):
    api = generator_for("openai-batch").batch_api()
    return batches_run(api=api, submit=submit, now=now, **limits)


def run_until_closed(*, polls: int = 10):
    """Poll (no new submissions) until no batch is open; the summaries."""
    summaries = []
    for _ in range(polls):
        summaries.append(run(submit=False))
        if not GenerationBatch.objects.filter(closed_at__isnull=True).exists():
            return summaries
    raise AssertionError("the batch never finished")


def uploaded_lines(fake_openai) -> list[dict]:
    files = fake_openai.batches.files
    return [
        json.loads(line)
        for file_id, content in files.items()
        if fake_openai.batches.purposes.get(file_id) == "batch"
        for line in content.splitlines()
    ]


def seen(fake_openai, method: str, path: str) -> list:
    return [r for r in fake_openai.requests if r.method == method and r.path == path]


# --- who is in scope --------------------------------------------------------


def test_only_windows_opening_more_than_a_day_ahead_are_batched(batch_settings) -> None:
    user_create(user_id="default")  # 08:00 UTC: tomorrow opens in 26 h
    user_create(user_id="early", send_time=datetime.time(5, 0))  # tomorrow in 23 h: too late
    user_create(user_id="tokyo", timezone="Asia/Tokyo")  # 08:00 JST = 23:00 UTC
    groups = {(g.timezone, g.send_time): g.window for g in batch_groups_ahead(now=NOW)}
    assert groups[("", None)].date == TOMORROW
    # 11-23 05:00 opens 23 h from now: the window after it, 47 h away, is the one.
    assert groups[("", datetime.time(5, 0))].date == datetime.date(2026, 11, 24)
    assert groups[("Asia/Tokyo", None)].date == datetime.date(2026, 11, 24)
    for window in groups.values():
        assert window.send_at - NOW > BATCH_AHEAD


def test_submit_sends_one_request_per_user_a_day_ahead(batch_settings, fake_openai) -> None:
    users = users_create(4)
    disabled = user_create(notifications_enabled=False)
    has_row = user_create()
    notification_create(user=has_row, date=TOMORROW)
    summary = run()
    assert (summary.submitted_batches, summary.submitted_requests) == (1, 4)
    lines = uploaded_lines(fake_openai)
    wanted = {
        custom_id_for(
            user_id=user.pk,
            date=TOMORROW,
            category=category_for(rotation_slot=user.rotation_slot, date=TOMORROW),
        ): user
        for user in users
    }
    assert {line["custom_id"] for line in lines} == set(wanted)
    for line in lines:
        user = wanted[line["custom_id"]]
        category = line["custom_id"].split("/")[1]
        assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
        # The same instructions, profile-as-data and schema as the synchronous path.
        assert line["body"] == json.loads(
            json.dumps(chat_request_body(model=MODEL, user=user, category=category, date=TOMORROW))
        )
    assert disabled.pk not in {line["custom_id"].split("/")[2] for line in lines}
    [create] = seen(fake_openai, "POST", "/v1/batches")
    assert create.body["endpoint"] == "/v1/chat/completions"
    assert create.body["completion_window"] == "24h"
    assert fake_openai.batches.purposes[create.body["input_file_id"]] == "batch"


def test_the_batch_is_on_record(batch_settings, fake_openai) -> None:
    users_create(3)
    run()
    batch = GenerationBatch.objects.get()
    remote = fake_openai.batches.batches[batch.remote_id]
    assert batch.input_file_id == remote.input_file_id
    assert (batch.first_date, batch.last_date) == (TOMORROW, TOMORROW)
    assert (batch.status, batch.request_count, batch.model) == (Status.VALIDATING, 3, MODEL)
    assert batch.submitted_at is not None and batch.closed_at is None
    assert GenerationBatchRequest.objects.filter(batch=batch).count() == 3


def test_a_rerun_while_in_flight_creates_nothing(batch_settings, fake_openai) -> None:
    users_create(3)
    run()
    again = run()
    assert (again.submitted_batches, again.submitted_requests, again.in_flight) == (0, 0, 3)
    assert len(fake_openai.batches.batches) == 1
    assert len(seen(fake_openai, "POST", "/v1/files")) == 1
    assert GenerationBatch.objects.get().status == Status.IN_PROGRESS


def test_nobody_in_scope_creates_no_batch(batch_settings, fake_openai) -> None:
    user_create(send_time=datetime.time(5, 0), user_id="x")
    notification_create(user=User.objects.get(pk="x"), date=datetime.date(2026, 11, 24))
    summary = run()
    assert summary.submitted_batches == 0
    assert not GenerationBatch.objects.exists()
    assert not seen(fake_openai, "POST", "/v1/files")


# --- answers ----------------------------------------------------------------


def test_a_completed_batch_writes_rows_with_tokens(batch_settings, fake_openai) -> None:
    users = users_create(5)
    run()
    summaries = run_until_closed()
    closing = summaries[-1]
    assert (closing.closed_batches, closing.answered, closing.returned) == (1, 5, 0)
    assert (closing.prompt_tokens, closing.completion_tokens) == (250, 100)
    rows = {row.user_id: row for row in DailyNotification.objects.filter(date=TOMORROW)}
    assert set(rows) == {user.pk for user in users}
    for user in users:
        row = rows[user.pk]
        assert row.generated_by == BATCH_GENERATED_BY
        assert (row.prompt_tokens, row.completion_tokens) == (50, 20)
        assert row.category == category_for(rotation_slot=user.rotation_slot, date=TOMORROW)
        assert row.status == DailyNotification.Status.PENDING
        assert row.send_at == datetime.datetime(2026, 11, 23, 8, 0, tzinfo=datetime.UTC)
        assert row.expires_at == datetime.datetime(2026, 11, 23, 21, 0, tzinfo=datetime.UTC)
        assert (row.title, row.body) == ("Stay hydrated", "Drink a glass of water.")
    batch = GenerationBatch.objects.get()
    assert (batch.status, batch.answered_count, batch.returned_count) == (Status.COMPLETED, 5, 0)
    assert (batch.prompt_tokens, batch.completion_tokens) == (250, 100)
    assert batch.closed_at is not None and batch.output_file_id


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_answers_go_in_chunk_by_chunk_all_of_them(
    batch_settings, fake_openai
) -> None:
    users = users_create(7)
    run()
    for _ in range(10):
        summary = run(submit=False, chunk_size=3)
        if summary.closed_batches:
            break
    assert (summary.answered, summary.returned) == (7, 0)
    assert set(DailyNotification.objects.values_list("user_id", flat=True)) == {
        user.pk for user in users
    }
    assert DailyNotification.objects.filter(generated_by=BATCH_GENERATED_BY).count() == 7
    assert not insert_thread_alive()


def test_rows_follow_each_users_zone_and_send_time(batch_settings, fake_openai) -> None:
    user_create(user_id="tokyo", timezone="Asia/Tokyo", send_time=datetime.time(7, 30))
    run()
    run_until_closed()
    row = DailyNotification.objects.get(user_id="tokyo")
    # 07:30 in Tokyo on 11-24 is 22:30 UTC on 11-23.
    assert row.date == datetime.date(2026, 11, 24)
    assert row.send_at == datetime.datetime(2026, 11, 23, 22, 30, tzinfo=datetime.UTC)


def test_an_expired_batch_keeps_its_answers_and_the_rest_go_to_the_normal_path(
    batch_settings, fake_openai
) -> None:
    users_create(6)
    fake_openai.batches.outcome = "expired"
    run()
    closing = run_until_closed()[-1]
    assert (closing.answered, closing.returned) == (3, 3)
    assert DailyNotification.objects.filter(generated_by=BATCH_GENERATED_BY).count() == 3
    batch = GenerationBatch.objects.get()
    assert batch.status == Status.EXPIRED
    # The others are the normal path's: synchronous calls while their send time allows.
    summary = notifications_generate(
        date=TOMORROW, now=NOW, generator=generator_for("openai"), concurrency=2
    )
    assert (summary.created, summary.existing) == (3, 3)
    by = sorted(DailyNotification.objects.values_list("generated_by", flat=True))
    assert by == sorted([f"openai:{MODEL}"] * 3 + [BATCH_GENERATED_BY] * 3)


def test_returned_users_are_never_put_in_another_batch(batch_settings, fake_openai) -> None:
    users_create(4)
    fake_openai.batches.outcome = "failed"
    run()
    closing = run_until_closed()[-1]
    assert (closing.answered, closing.returned) == (0, 4)
    assert GenerationBatch.objects.get().status == Status.FAILED
    assert not DailyNotification.objects.exists()
    again = run()
    assert again.submitted_requests == 0
    assert len(fake_openai.batches.batches) == 1


def test_a_cancelled_batch_keeps_what_was_done(batch_settings, fake_openai) -> None:
    users_create(4)
    run()
    batch = GenerationBatch.objects.get()
    generator_for("openai-batch").batch_api().cancel(batch.remote_id)
    closing = run_until_closed()[-1]
    assert GenerationBatch.objects.get().status == Status.CANCELLED
    assert (closing.answered, closing.returned) == (2, 2)


def test_error_lines_malformed_lines_and_unusable_answers_are_per_user(
    batch_settings, fake_openai, caplog
) -> None:
    users = users_create(6)
    bad = {
        users[1].pk: ErrorLine(code="server_error", message="boom"),
        users[2].pk: MalformedLine(),
        users[3].pk: OutputLine(content=json.dumps({"title": "**Bold**", "message": "x"})),
        users[4].pk: Missing(),
        users[5].pk: OutputLine(status_code=500, content=None),
    }
    fake_openai.batches.answer = lambda line: bad.get(
        line["custom_id"].split("/", 2)[2], OutputLine()
    )
    run()
    with caplog.at_level(logging.WARNING, logger="outbox.batches"):
        closing = run_until_closed()[-1]
    assert (closing.answered, closing.returned) == (1, 5)
    assert list(DailyNotification.objects.values_list("user_id", flat=True)) == [users[0].pk]
    logged = caplog.text
    assert "action=outbox.batch_line_malformed" in logged
    assert f"user_id={users[1].pk}" in logged and "boom" in logged
    assert f"user_id={users[3].pk}" in logged and "markup" in logged
    assert f"user_id={users[5].pk}" in logged and "HTTP 500" in logged


def test_a_user_disabled_since_gets_no_row(batch_settings, fake_openai) -> None:
    kept, disabled = users_create(2)
    run()
    User.objects.filter(pk=disabled.pk).update(notifications_enabled=False)
    run_until_closed()
    assert list(DailyNotification.objects.values_list("user_id", flat=True)) == [kept.pk]


def test_a_user_written_meanwhile_keeps_the_first_row(batch_settings, fake_openai) -> None:
    users = users_create(3)
    run()
    notification_create(user=users[0], date=TOMORROW, generated_by="offline-fallback")
    run_until_closed()
    by = dict(DailyNotification.objects.values_list("user_id", "generated_by"))
    assert by[users[0].pk] == "offline-fallback"
    assert by[users[1].pk] == by[users[2].pk] == BATCH_GENERATED_BY
    assert DailyNotification.objects.count() == 3


# --- splitting and bookkeeping ----------------------------------------------


def test_batches_split_at_the_request_limit(batch_settings, fake_openai) -> None:
    users_create(7)
    summary = run(max_requests=3, chunk_size=2)
    assert (summary.submitted_batches, summary.submitted_requests) == (3, 7)
    counts = sorted(GenerationBatch.objects.values_list("request_count", flat=True))
    assert counts == [1, 3, 3]
    ids = [line["custom_id"] for line in uploaded_lines(fake_openai)]
    assert len(ids) == len(set(ids)) == 7


def test_batches_split_at_the_size_limit(batch_settings, fake_openai) -> None:
    users_create(5)
    run(max_requests=1000)
    line_size = max(len(json.dumps(line)) for line in uploaded_lines(fake_openai)) + 20
    GenerationBatch.objects.all().delete()
    fake_openai.batches.files.clear()
    summary = run(max_bytes=line_size * 2)
    assert (summary.submitted_batches, summary.submitted_requests) == (3, 5)


def stale_preparing(batch: GenerationBatch, **fields) -> None:
    """Leave ``batch`` as a run that died while preparing it would (an hour ago)."""
    GenerationBatch.objects.filter(pk=batch.pk).update(
        status=Status.PREPARING, updated_at=NOW - datetime.timedelta(hours=1), **fields
    )


def dead_batch(*, users: int = 3, **fields) -> GenerationBatch:
    """A batch holding ``users`` new users for tomorrow, left preparing by a run that died."""
    dead = GenerationBatch.objects.create(model=MODEL, request_count=users, **fields)
    GenerationBatchRequest.objects.bulk_create(
        GenerationBatchRequest(batch=dead, user=user, date=TOMORROW) for user in users_create(users)
    )
    stale_preparing(dead)
    return dead


def test_a_batch_left_preparing_by_a_dead_run_gives_its_users_back(
    batch_settings, fake_openai
) -> None:
    dead = dead_batch()
    summary = run()
    dead.refresh_from_db()
    assert dead.status == Status.ABANDONED and dead.closed_at is not None
    assert summary.submitted_requests == 3
    assert GenerationBatchRequest.objects.exclude(batch=dead).count() == 3


def test_a_batch_created_just_before_its_run_died_is_found_and_polled(
    batch_settings, fake_openai, caplog
) -> None:
    users_create(3)
    run()
    batch = GenerationBatch.objects.get()
    remote_id = batch.remote_id
    # The run died once the API had created the batch, before it recorded the batch's id.
    stale_preparing(batch, remote_id="", submitted_at=None)

    with caplog.at_level(logging.INFO, logger="outbox.batches"):
        summary = run()

    assert (summary.submitted_batches, summary.in_flight) == (0, 3)
    assert list(fake_openai.batches.batches) == [remote_id]
    batch.refresh_from_db()
    assert (batch.remote_id, batch.closed_at) == (remote_id, None)
    assert batch.status != Status.PREPARING and batch.submitted_at is not None
    assert "action=outbox.batch_recovered" in caplog.text
    run_until_closed()
    rows = DailyNotification.objects.filter(date=TOMORROW)
    assert list(rows.values_list("generated_by", flat=True)) == [BATCH_GENERATED_BY] * 3


def test_a_batch_uploaded_but_never_created_gives_its_users_back(
    batch_settings, fake_openai
) -> None:
    dead = dead_batch(input_file_id="file-x")

    summary = run()

    dead.refresh_from_db()
    assert dead.status == Status.ABANDONED and dead.closed_at is not None
    assert summary.submitted_requests == 3
    assert seen(fake_openai, "GET", "/v1/batches?limit=100")


def test_a_stale_batch_the_api_cannot_tell_about_keeps_its_users(
    batch_settings, fake_openai, caplog
) -> None:
    dead = dead_batch(input_file_id="file-x")
    fake_openai.batches.listing = lambda query: (503, {"error": {"message": "overloaded"}})

    summary = run()

    dead.refresh_from_db()
    assert (dead.status, dead.closed_at) == (Status.PREPARING, None)
    assert summary.submitted_requests == 0 and not fake_openai.batches.batches
    assert "action=outbox.batch_unsettled" in caplog.text and "overloaded" in caplog.text


def test_an_upload_the_api_refuses_leaves_its_users_to_the_normal_path(
    batch_settings, fake_openai
) -> None:
    users_create(2)
    original = fake_openai.batches.create
    fake_openai.batches.create = lambda body: (400, {"error": {"message": "bad file"}})
    summary = run()
    fake_openai.batches.create = original
    assert summary.submitted_batches == 0
    batch = GenerationBatch.objects.get()
    assert batch.status == Status.ABANDONED and "bad file" in batch.last_error
    assert run().submitted_requests == 0


def test_a_refused_key_stops_the_run(batch_settings, fake_openai) -> None:
    from outbox.generators import GeneratorUnavailable
    from tests.fake_openai import Reply

    users_create(1)
    fake_openai.respond = lambda request: Reply(status=401, body=b'{"error": {"message": "no"}}')
    original = fake_openai._batch_route
    fake_openai._batch_route = lambda seen: None  # every endpoint answers 401
    try:
        with pytest.raises(GeneratorUnavailable, match="OPENAI_API_KEY"):
            run()
    finally:
        fake_openai._batch_route = original
    # Closed once, with the refusal on record; its users stay the normal path's.
    batch = GenerationBatch.objects.get()
    assert batch.status == Status.ABANDONED and "OPENAI_API_KEY" in batch.last_error
    assert GenerationBatchRequest.objects.filter(batch=batch).count() == 1


# --- preferences and the normal path ---------------------------------------


def test_a_muted_category_is_never_requested(batch_settings, fake_openai) -> None:
    users = users_create(6)
    for user in users:
        muted = category_for(rotation_slot=user.rotation_slot, date=TOMORROW)
        User.objects.filter(pk=user.pk).update(muted_categories=[muted])
    run()
    run_until_closed()
    rows = DailyNotification.objects.filter(date=TOMORROW).select_related("user")
    assert len(rows) == 6
    for row in rows:
        assert row.category not in row.user.muted_categories
        assert row.generated_by == BATCH_GENERATED_BY


def test_a_category_muted_after_the_request_is_left_to_the_normal_path(
    batch_settings, fake_openai
) -> None:
    kept, muting = users_create(2)
    run()
    requested = category_for(rotation_slot=muting.rotation_slot, date=TOMORROW)
    User.objects.filter(pk=muting.pk).update(muted_categories=[requested])
    run_until_closed()
    assert list(DailyNotification.objects.values_list("user_id", flat=True)) == [kept.pk]
    summary = notifications_generate(
        date=TOMORROW, now=NOW, generator=generator_for("offline"), concurrency=1
    )
    assert summary.created == 1
    assert DailyNotification.objects.get(user=muting).category != requested


def test_the_normal_path_leaves_users_in_an_open_batch_until_their_deadline(
    batch_settings, fake_openai
) -> None:
    users_create(3)
    run()
    early = notifications_generate(
        date=TOMORROW, now=NOW, generator=generator_for("openai"), concurrency=2
    )
    assert (early.created, early.in_batch, early.left) == (0, 3, 0)
    assert not DailyNotification.objects.exists()
    # At the fallback deadline the batch is still open: nobody misses their day.
    deadline = datetime.datetime(2026, 11, 23, 7, 45, tzinfo=datetime.UTC)
    late = notifications_generate(
        date=TOMORROW, now=deadline, generator=generator_for("openai"), concurrency=2
    )
    assert (late.created, late.in_batch) == (3, 0)
    assert set(DailyNotification.objects.values_list("generated_by", flat=True)) == {
        f"openai:{MODEL}"
    }


def test_request_rows_of_closed_batches_go_once_their_date_is_past(
    batch_settings, fake_openai
) -> None:
    users_create(2)
    run()
    run_until_closed()
    assert GenerationBatchRequest.objects.count() == 2
    run(submit=False, now=NOW + datetime.timedelta(days=2))
    assert GenerationBatchRequest.objects.count() == 2  # its date may still be written
    run(submit=False, now=NOW + datetime.timedelta(days=4))
    assert not GenerationBatchRequest.objects.exists()


# --- the generator ----------------------------------------------------------


def test_openai_batch_needs_a_key(settings) -> None:
    settings.OPENAI_API_KEY = ""
    with pytest.raises(UnknownGenerator, match="openai-batch generator needs OPENAI_API_KEY"):
        generator_for("openai-batch")


@pytest.mark.parametrize(
    ("key", "use_batch", "expected"),
    [("", True, "offline"), ("sk", False, "openai"), ("sk", True, "openai-batch")],
)
def test_the_setting_makes_openai_batch_the_default(settings, key, use_batch, expected) -> None:
    settings.OPENAI_API_KEY = key
    settings.OPENAI_USE_BATCH = use_batch
    assert default_generator_name() == expected


def test_the_batch_generator_writes_synchronous_text_as_openai(batch_settings, fake_openai) -> None:
    generator = generator_for("openai-batch")
    assert generator.name == BATCH_GENERATED_BY
    text = generator.write(user=user_create(), category="tip", date=TOMORROW)
    assert text.generated_by == f"openai:{MODEL}"


def test_a_user_another_batch_holds_is_left_out_of_a_new_one() -> None:
    from outbox.batches import _requests_insert

    held, free = users_create(2)
    other = GenerationBatch.objects.create(model=MODEL)
    GenerationBatchRequest.objects.create(batch=other, user=held, date=TOMORROW)
    mine = GenerationBatch.objects.create(model=MODEL)
    taken = _requests_insert(batch_id=mine.pk, user_ids=[held.pk, free.pk], date=TOMORROW)
    assert taken == {free.pk}
    owners = dict(GenerationBatchRequest.objects.values_list("user_id", "batch_id"))
    assert owners == {held.pk: other.pk, free.pk: mine.pk}
    # Nobody held: every user goes in, and that is all it says.
    assert _requests_insert(batch_id=mine.pk, user_ids=[held.pk], date=DAY_AFTER) is None


DAY_AFTER = datetime.date(2026, 11, 24)
