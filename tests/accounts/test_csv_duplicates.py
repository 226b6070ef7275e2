"""Duplicate user ids: reported exactly, first valid row wins, whatever the Bloom filter says."""

from __future__ import annotations

import pytest

from accounts.csv_import import duplicates, users_load_csv
from accounts.models import User
from tests.accounts.users_csv import ALICE, BOB, csv_file, reasons

pytestmark = pytest.mark.django_db


def test_a_duplicate_id_is_reported_with_the_line_first_seen_and_the_first_row_wins(tmp_path):
    report = users_load_csv(path=csv_file(tmp_path, ALICE, BOB, ALICE.replace("Alice", "Alicia")))

    assert reasons(report) == ["line 4: duplicate user_id '1' (first seen on line 2)"]
    assert User.objects.get(user_id="1").name == "Alice Smith"
    assert report.created == 2


def test_a_bad_row_does_not_claim_its_id(tmp_path):
    report = users_load_csv(path=csv_file(tmp_path, ALICE.replace(",30,", ",old,"), ALICE))

    assert reasons(report) == ["line 2: age must be a whole number, got 'old'"]
    assert User.objects.filter(user_id="1").exists()


def test_duplicates_stay_exact_when_the_filter_flags_every_row(tmp_path, monkeypatch):
    # Every row deferred (as if all were Bloom false positives), resolved in batches of two.
    monkeypatch.setattr(duplicates.IdFilter, "seen_or_add", lambda self, key: True)
    monkeypatch.setattr(duplicates, "DEFERRED_BATCH", 2)
    rows = [ALICE, BOB, ALICE, "3,C,c@example.com,2021-01-01,1,1,1,Low,x", BOB, ALICE]

    report = users_load_csv(path=csv_file(tmp_path, *rows))

    assert sorted(reasons(report)) == [
        "line 4: duplicate user_id '1' (first seen on line 2)",
        "line 6: duplicate user_id '2' (first seen on line 3)",
        "line 7: duplicate user_id '1' (first seen on line 2)",
    ]
    assert report.summary() == "created 3, updated 0, unchanged 0, skipped 3"


def test_the_id_filter_remembers_what_it_saw():
    ids = duplicates.IdFilter()

    assert [ids.seen_or_add(key) for key in ("1", "2", "1", "2", "3")] == [
        False,
        False,
        True,
        True,
        False,
    ]
