"""notifications_generate: one row per user per date, only the missing ones, counted honestly."""

from __future__ import annotations

import datetime
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import pytest
from django.db import IntegrityError, connection

from accounts.models import User
from core.db import copy_supported
from outbox.categories import category_for
from outbox.generation import notifications_generate
from outbox.generators import (
    FALLBACK_GENERATED_BY,
    GeneratedText,
    NotificationGenerator,
    OfflineGenerator,
    WriteRequest,
    generator_for,
)
from outbox.models import DailyNotification
from tests.factories import notification_create, user_build, users_create
from tests.fake_openai import Reply
from tests.outbox.insert_threads import insert_thread_alive

DATE = datetime.date(2026, 11, 22)
# The users are in UTC (TIME_ZONE) with the default 08:00 send time: at NEAR their
# window is open and within the fallback deadline, at EARLY it opens hours later.
NEAR = datetime.datetime(2026, 11, 22, 7, 45, tzinfo=datetime.UTC)
EARLY = datetime.datetime(2026, 11, 22, 0, 0, tzinfo=datetime.UTC)

pytestmark = pytest.mark.django_db


class CountingGenerator(NotificationGenerator):
    """Offline text, counting the users it was asked about; some users' text is a fallback."""

    name = "counting"

    def __init__(self, *, fallback_for: set[str] = frozenset()) -> None:
        self.asked: list[str] = []
        self.fallback_for = fallback_for

    def write(self, *, user: User, category: str, date: datetime.date) -> GeneratedText:
        self.asked.append(user.user_id)
        text = OfflineGenerator().write(user=user, category=category, date=date)
        if user.user_id in self.fallback_for:
            return GeneratedText(text.title, text.body, FALLBACK_GENERATED_BY)
        return GeneratedText(text.title, text.body, self.name)


class MeddlingGenerator(CountingGenerator):
    """Another process does ``meddle(user)`` as the text of the chunk holding ``user`` is written.

    Outside a transaction what it does is committed at once.
    """

    def __init__(self, *, user: User, meddle: Callable[[User], object]) -> None:
        super().__init__()
        self.user = user
        self.meddle = meddle

    def write_many(
        self, *, requests: Sequence[WriteRequest], concurrency: int = 1
    ) -> Iterator[tuple[WriteRequest, GeneratedText]]:
        if any(request.user.user_id == self.user.pk for request in requests):
            self.meddle(self.user)
        yield from super().write_many(requests=requests, concurrency=concurrency)


def racing(rival: User) -> MeddlingGenerator:
    """Another run inserts a row for ``rival`` while this one is writing its text."""
    return MeddlingGenerator(
        user=rival,
        meddle=lambda user: notification_create(user=user, date=DATE, generated_by="rival"),
    )


def chunk_write_statements() -> int:
    """The statements a query capture sees for one chunk's write.

    A savepoint around the insert (the test's transaction is open); on the COPY path
    also the inner savepoint it falls back to and the commit setting, while the COPY
    itself goes unseen.
    """
    return 5 if copy_supported(connection) else 3


def generate(
    generator: NotificationGenerator | None = None,
    *,
    date: datetime.date | None = DATE,
    now: datetime.datetime = NEAR,
    **options,
):
    return notifications_generate(
        date=date, now=now, generator=generator or OfflineGenerator(), concurrency=4, **options
    )


def test_every_user_gets_one_row_for_the_date() -> None:
    users = users_create(5)
    summary = generate()
    assert (summary.created, summary.existing, summary.fallback) == (5, 0, 0)
    assert sorted(
        DailyNotification.objects.filter(date=DATE).values_list("user_id", flat=True)
    ) == (sorted(u.pk for u in users))


def test_rows_are_pending_with_the_rotation_category() -> None:
    users = users_create(6)
    generate()
    rows = {row.user_id: row for row in DailyNotification.objects.all()}
    for user in users:
        assert rows[user.pk].category == category_for(rotation_slot=user.rotation_slot, date=DATE)
        assert rows[user.pk].send_at == datetime.datetime(2026, 11, 22, 8, tzinfo=datetime.UTC)
        assert rows[user.pk].expires_at == datetime.datetime(2026, 11, 22, 21, tzinfo=datetime.UTC)
        assert rows[user.pk].created_at == NEAR
        assert rows[user.pk].status == DailyNotification.Status.PENDING
        assert rows[user.pk].generated_by == "offline"


def test_a_rerun_creates_nothing() -> None:
    users_create(4)
    generate()
    summary = generate()
    assert (summary.created, summary.existing) == (0, 4)
    assert DailyNotification.objects.count() == 4


def test_a_rerun_asks_the_generator_nothing() -> None:
    users_create(4)
    generate()
    generator = CountingGenerator()
    generate(generator)
    assert generator.asked == []


def test_only_users_without_a_row_are_generated() -> None:
    users = users_create(3)
    kept = notification_create(user=users[1], date=DATE, title="Already here")
    generator = CountingGenerator()
    summary = generate(generator)
    assert sorted(generator.asked) == sorted([users[0].pk, users[2].pk])
    assert (summary.created, summary.existing) == (2, 1)
    assert DailyNotification.objects.get(pk=kept.pk).title == "Already here"


def test_another_date_is_generated_separately() -> None:
    users_create(2)
    generate()
    summary = generate(date=DATE + datetime.timedelta(days=1))
    assert summary.created == 2


def test_limit_takes_the_first_users_in_key_order() -> None:
    users_create(5)
    summary = generate(limit=2)
    assert summary.created + summary.existing == 2
    first_two = list(User.objects.order_by("pk").values_list("pk", flat=True)[:2])
    assert sorted(DailyNotification.objects.values_list("user_id", flat=True)) == first_two


def test_users_are_read_in_chunks_without_skipping_any() -> None:
    users_create(10)
    summary = generate(chunk_size=3)
    assert summary.created == 10


def test_after_a_chunk_of_new_users_a_chunk_is_one_read_that_still_skips_existing_rows() -> None:
    from django.test.utils import CaptureQueriesContext

    users = sorted(users_create(9), key=lambda user: user.pk)
    kept = notification_create(user=users[7], date=DATE, title="Already here")
    generator = CountingGenerator()
    with CaptureQueriesContext(connection) as queries:
        summary = generate(generator, chunk_size=3)
    assert sorted(generator.asked) == sorted(user.pk for user in users if user != users[7])
    assert (summary.created, summary.existing) == (8, 1)
    assert DailyNotification.objects.get(pk=kept.pk).title == "Already here"
    walk_reads = [query["sql"] for query in queries if 'FROM "accounts_user" u ' in query["sql"]]
    # Keys, then profiles; the next two chunks (their users new so far) profiles at
    # once; after the chunk with a row, the keys of an empty chunk.
    assert len(walk_reads) == 5, walk_reads


def test_progress_reaches_the_total() -> None:
    users_create(7)
    seen: list[tuple[int, int | None]] = []
    generate(chunk_size=3, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 7)
    assert seen[-1] == (7, 7)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_fallbacks_are_counted() -> None:
    users = users_create(4)
    summary = generate(CountingGenerator(fallback_for={users[0].pk, users[3].pk}))
    assert summary.fallback == 2
    assert DailyNotification.objects.filter(generated_by=FALLBACK_GENERATED_BY).count() == 2


def test_a_row_inserted_meanwhile_by_another_run_counts_as_existing() -> None:
    users = users_create(3)
    summary = generate(racing(users[1]))
    assert (summary.created, summary.existing) == (2, 1)
    assert DailyNotification.objects.get(user=users[1]).generated_by == "rival"
    assert DailyNotification.objects.count() == 3


class InsertWatchingGenerator(CountingGenerator):
    """Notes, each time it is asked for text, whether an insert was open on the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.outside = len(connection.atomic_blocks)
        self.inside_insert: list[bool] = []

    def write_many(
        self, *, requests: Sequence[WriteRequest], concurrency: int = 1
    ) -> Iterator[tuple[WriteRequest, GeneratedText]]:
        self.inside_insert.append(len(connection.atomic_blocks) > self.outside)
        yield from super().write_many(requests=requests, concurrency=concurrency)


def test_text_is_never_written_inside_an_insert() -> None:
    users_create(7)
    generator = InsertWatchingGenerator()
    assert generate(generator, chunk_size=3).created == 7
    assert generator.inside_insert == [False, False, False]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_every_chunk_is_inserted_and_counted() -> None:
    users = sorted(users_create(8), key=lambda user: user.pk)
    # Committed at once (no transaction is open): the run's insert of that chunk skips it.
    summary = generate(racing(users[4]), chunk_size=3)
    assert (summary.created, summary.existing) == (7, 1)
    assert DailyNotification.objects.count() == 8
    assert DailyNotification.objects.get(user=users[4]).generated_by == "rival"
    assert not insert_thread_alive()


@pytest.mark.django_db(transaction=True)
def test_an_insert_that_fails_fails_the_run_and_keeps_the_chunks_before() -> None:
    users = sorted(users_create(7), key=lambda user: user.pk)
    with pytest.raises(IntegrityError):
        # Its user deleted as its text is written: the chunk's insert breaks the foreign key.
        vanishing = MeddlingGenerator(
            user=users[4], meddle=lambda user: User.objects.filter(pk=user.pk).delete()
        )
        generate(vanishing, chunk_size=3)
    # The first chunk went in; the failed one is written again by the next run.
    assert sorted(DailyNotification.objects.values_list("user_id", flat=True)) == [
        user.pk for user in users[:3]
    ]
    assert not insert_thread_alive()
    assert generate().created == 3


def test_queries_do_not_grow_with_users(django_assert_max_num_queries) -> None:
    users_create(60)
    # groups, disabled count, whether a batch is open; then a chunk: keys with their
    # rows, profiles, the write, and the empty next chunk
    with django_assert_max_num_queries(6 + chunk_write_statements()):
        generate()


def test_openai_rerun_makes_no_model_calls(openai_settings, fake_openai) -> None:
    users_create(3)
    first = generate(generator_for("openai"))
    calls_after_first_run = len(fake_openai.requests)
    second = generate(generator_for("openai"))
    assert (first.created, calls_after_first_run) == (3, 3)
    assert (second.created, second.existing) == (0, 3)
    assert len(fake_openai.requests) == 3


def test_openai_failures_at_the_deadline_fall_back_and_the_run_completes(
    openai_settings, fake_openai
) -> None:
    openai_settings.OPENAI_MAX_RETRIES = 0
    users_create(3)
    # One user served: the model is up, so the other two fall back rather than stop the run.
    fake_openai.respond = lambda request: (
        Reply() if len(fake_openai.requests) == 1 else Reply(status=500, body=b"{}")
    )
    summary = generate(generator_for("openai"))
    assert (summary.created, summary.fallback) == (3, 2)


def test_existing_rows_are_found_in_every_chunk() -> None:
    users = sorted(users_create(10), key=lambda user: user.pk)
    for user in users[::3]:
        notification_create(user=user, date=DATE)
    generator = CountingGenerator()
    summary = generate(generator, chunk_size=3)
    assert (summary.created, summary.existing) == (6, 4)
    assert sorted(generator.asked) == sorted(user.pk for user in users if user not in users[::3])


class SlowGenerator(CountingGenerator):
    """Offline text that takes ``delay`` seconds a user."""

    def __init__(self, *, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def write(self, *, user: User, category: str, date: datetime.date) -> GeneratedText:
        time.sleep(self.delay)
        return super().write(user=user, category=category, date=date)


def test_a_run_without_a_bound_is_complete() -> None:
    users_create(5)
    assert generate(chunk_size=2).complete is True


def test_a_run_stops_after_the_chunk_during_which_the_bound_passed() -> None:
    users_create(10)
    generator = SlowGenerator(delay=0.02)
    summary = generate(generator, chunk_size=3, max_seconds=0.05)
    # Chunk 1 (0.06 s) passes the bound: it is written, no other chunk is started.
    assert (summary.created, summary.complete) == (3, False)
    assert len(generator.asked) == 3
    assert DailyNotification.objects.count() == 3


def test_a_run_after_a_bounded_one_carries_on() -> None:
    users_create(10)
    generate(SlowGenerator(delay=0.02), chunk_size=3, max_seconds=0.05)
    generator = CountingGenerator()
    summary = generate(generator, chunk_size=3)
    assert (summary.created, summary.existing, summary.complete) == (7, 3, True)
    assert len(generator.asked) == 7


def test_a_bound_not_reached_is_complete() -> None:
    users_create(10)
    summary = generate(chunk_size=3, max_seconds=60)
    assert (summary.created, summary.complete) == (10, True)


def test_a_bounded_run_gets_past_users_who_have_a_row() -> None:
    users = sorted(users_create(9), key=lambda user: user.pk)
    for user in users[:6]:
        notification_create(user=user, date=DATE)
    summary = generate(SlowGenerator(delay=0.02), chunk_size=3, max_seconds=0.000001)
    # Chunks 1 and 2 had nothing to write: the bound only counts once text was written.
    assert (summary.created, summary.existing, summary.complete) == (3, 6, True)


@pytest.mark.parametrize(
    "make_id",
    [lambda n: str(uuid.uuid4()), lambda n: f"member{n}@example.com", lambda n: str(3 * n)],
    ids=["uuid", "email", "multiples-of-three"],
)
def test_categories_split_in_thirds_whatever_the_ids(make_id) -> None:
    for n in range(30):
        # One at a time, as the admin does: the model gives the slot round-robin.
        user = user_build(user_id=make_id(n))
        fields = {f.attname: getattr(user, f.attname) for f in User._meta.concrete_fields}
        del fields["rotation_slot"]
        User.objects.create(**fields)
    generate()
    counts = Counter(DailyNotification.objects.values_list("category", flat=True))
    assert sorted(counts.values()) == [10, 10, 10]
