"""Two generate runs at once on PostgreSQL submit one batch: the batch step is taken by one."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from outbox.models import GenerationBatch, GenerationBatchRequest
from tests.factories import users_create
from tests.outbox.test_batches import run

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def batch_settings(openai_settings):
    openai_settings.TIME_ZONE = "UTC"
    return openai_settings


def test_two_concurrent_runs_submit_one_batch(batch_settings, fake_openai) -> None:
    users_create(20)
    # The upload takes a while, so the second run starts while the first holds the step.
    fake_openai.batches.upload_delay = 1.0
    start = threading.Barrier(2)
    summaries = []
    errors = []

    def one_run() -> None:
        try:
            start.wait()
            summaries.append(run())
        except Exception as error:  # handed to the test, which fails with it
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sorted(summary.submitted_requests for summary in summaries) == [0, 20]
    assert [summary.busy for summary in summaries].count(True) == 1
    assert len(fake_openai.batches.batches) == 1
    assert GenerationBatch.objects.count() == 1
    assert GenerationBatchRequest.objects.count() == 20
