"""The generate stage with the Batch API: the batch step first, its part of the summary, the admin."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from outbox.models import DailyNotification, GenerationBatch
from pipeline.stages import generation_run, generator_choose
from tests.factories import users_create
from tests.fake_openai import MODEL

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:outbox_generationbatch_changelist")


@pytest.fixture
def a_day_ahead(openai_settings):
    """Users whose send time (UTC) opens their next window 30 hours from now."""
    openai_settings.TIME_ZONE = "UTC"
    opens = timezone.now() + datetime.timedelta(hours=30)
    send_time = opens.time().replace(second=0, microsecond=0)
    users_create(3, send_time=send_time)
    return opens.date()


def generate(generator: str, *, batch_date: datetime.date | None = None):
    """A run for today, or for the day before ``batch_date`` (its send time 6 hours ahead).

    Not the clock's date then: after 18:00 UTC that day's send time has passed.
    """
    day = timezone.localdate() if batch_date is None else batch_date - datetime.timedelta(days=1)
    return generation_run(date=day, generator=generator_choose(generator))


def test_openai_batch_submits_first_then_runs_the_normal_path(a_day_ahead, fake_openai) -> None:
    result = generate("openai-batch", batch_date=a_day_ahead)
    assert result.generator_name == f"openai-batch:{MODEL}"
    # Today's rows come from the normal path, synchronously.
    assert result.summary.created == 3
    assert result.line.endswith(
        "; batch: submitted 3 requests in 1 batches, 3 in flight, wrote 0, returned 0"
    )
    assert GenerationBatch.objects.get().first_date == a_day_ahead


def test_any_run_with_a_key_polls_and_takes_the_answers_in(a_day_ahead, fake_openai) -> None:
    generate("openai-batch", batch_date=a_day_ahead)
    lines = [generate("openai", batch_date=a_day_ahead).line for _ in range(3)]
    assert "wrote 3, returned 0, tokens 150 in / 60 out" in lines[-1]
    rows = DailyNotification.objects.filter(date=a_day_ahead)
    assert set(rows.values_list("generated_by", flat=True)) == {f"openai-batch:{MODEL}"}


def test_a_run_without_open_batches_or_openai_batch_has_no_batch_part(
    a_day_ahead, fake_openai
) -> None:
    result = generate("openai", batch_date=a_day_ahead)
    assert result.batch is None and "batch:" not in result.line
    assert not [r for r in fake_openai.requests if "/batches" in r.path]


def test_a_run_without_a_key_never_polls(settings) -> None:
    settings.OPENAI_API_KEY = ""
    GenerationBatch.objects.create(model="m", remote_id="batch-x", status="in_progress")
    assert generate("offline").batch is None


def test_the_command_prints_the_batch_part(a_day_ahead, fake_openai) -> None:
    out = io.StringIO()
    call_command("runpipeline", "generate", "--generator", "openai-batch", stdout=out)
    assert "; batch: submitted 3 requests in 1 batches" in out.getvalue()


def test_the_admin_lists_batches_read_only(admin_client) -> None:
    GenerationBatch.objects.create(model="m", remote_id="batch-7", status="completed")
    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200 and "batch-7" in page.content.decode()
    assert admin_client.get(reverse("admin:outbox_generationbatch_add")).status_code == 403
    batch = GenerationBatch.objects.get()
    change = admin_client.get(reverse("admin:outbox_generationbatch_change", args=[batch.pk]))
    assert change.status_code == 200 and "Save" not in change.content.decode()
