"""load_users' COPY path on PostgreSQL gives exactly the rows, counts and errors of the executemany path.

Each case loads the same files twice into an emptied table, once per path (the other
path is chosen by emptying ``core.db.COPY_VENDORS``), and compares everything.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from accounts.csv_import import users_load_csv
from accounts.models import User
from tests.accounts.users_csv import ALICE, BOB, HEADER, csv_file

pytestmark = [pytest.mark.django_db, pytest.mark.postgres_only]

TZ_HEADER = f"{HEADER},timezone"


def table() -> list[tuple]:
    fields = [field.attname for field in User._meta.concrete_fields]
    return list(User.objects.order_by("pk").values_list(*fields))


def outcome(report) -> tuple:
    return (
        report.created,
        report.updated,
        report.unchanged,
        report.skipped,
        report.rolled_back,
        [str(error) for error in report.errors],
    )


def both_paths(monkeypatch, loads) -> tuple[list, list]:
    """Run ``loads`` (a list of (path, options)) once per path on an empty table each time."""
    results = []
    for vendors in (frozenset({"postgresql"}), frozenset()):
        monkeypatch.setattr("core.db.COPY_VENDORS", vendors)
        User.objects.all().delete()
        reports = [outcome(users_load_csv(path=path, **options)) for path, options in loads]
        results.append((reports, table()))
    return results[0], results[1]


def tricky_files(tmp_path: Path) -> tuple[Path, Path]:
    """A first load, then a file with every kind of row: new, changed, unchanged, bad, duplicated."""
    first_dir = tmp_path / "first"
    first_dir.mkdir()
    first = csv_file(
        first_dir,
        f"{ALICE},Europe/Paris",
        f"{BOB},",
        "3,Chloé Martin,chloe@example.com,2020-05-05,29,160.5,55.2,High,Flexibility,Asia/Tokyo",
        header=TZ_HEADER,
    )
    lines = [
        ALICE,  # unchanged (no timezone column: Alice keeps Europe/Paris)
        "2,Bob Johnson,bob@example.com,2021-02-15,46,178,85,Low,Heart Health",  # changed age
        '3,"Martin, Chloé",chloe@example.com,2020-05-05,29,160.50,55.2,High,Flexibility',
        "",  # a blank line: still counted in line numbers
        "4,Zoë Ögün,zoe@example.com,2019-12-31,61,171,70.0,Moderate,Healthy Aging",
        "5,Bad Email,not-an-email,2021-01-01,30,170,70,Low,x",
        "6,Bad Date,d@example.com,2021-13-01,30,170,70,Low,x",
        "7,Bad Age,a@example.com,2021-01-01,-3,170,70,Low,x",
        "8,Bad Height,h@example.com,2021-01-01,30,170.123,70,Low,x",
        "9,Too few,fields",
        "10,Dup First,dup@example.com,2021-01-01,30,170,70,Low,x",
        "11,Quoted\u00a0Space,q@example.com,2021-01-01,30,170,70,Low,x",
        "10,Dup Second,dup2@example.com,2021-01-01,31,171,71,High,y",
        '12,"Line\nbreak",l@example.com,2021-01-01,30,170,70,Low,x',
        "13,  Padded  , padded@example.com ,2021-01-01, 30 ,170,70,Low,x",
        *[
            f"{n},User {n},u{n}@example.com,2021-01-01,{20 + n % 50},170,70,Low,Stress Reduction"
            for n in range(100, 160)
        ],
    ]
    second = tmp_path / "second.csv"
    second.write_text("\ufeff" + "\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return first, second


def test_the_tricky_file_gives_the_same_rows_counts_and_errors(tmp_path, monkeypatch) -> None:
    first, second = tricky_files(tmp_path)
    loads = [(first, {}), (second, {"chunk_size": 7})]
    copied, executed = both_paths(monkeypatch, loads)
    assert copied == executed
    reports, rows = copied
    # The comparison is of something: users were created, updated, kept and refused.
    created, updated, unchanged, skipped, _, errors = reports[1]
    # New: 4, 10 (its first line), 11, 13 and 100-159; changed: Bob's age, Chloé's name.
    assert (created, updated, unchanged) == (64, 2, 1)
    assert skipped == len(errors) >= 6
    assert len(rows) == 67


def test_strict_mode_rolls_back_the_same_way(tmp_path, monkeypatch) -> None:
    first, second = tricky_files(tmp_path)
    loads = [(first, {}), (second, {"strict": True})]
    copied, executed = both_paths(monkeypatch, loads)
    assert copied == executed
    assert copied[0][1][4] is True  # rolled back


def test_rotation_slots_continue_across_chunks_and_loads(tmp_path, monkeypatch) -> None:
    first = csv_file(
        tmp_path,
        *[f"{n},U {n},u{n}@example.com,2021-01-01,30,170,70,Low,x" for n in range(1, 12)],
    )
    second_dir = tmp_path / "again"
    second_dir.mkdir()
    second = csv_file(
        second_dir,
        *[f"{n},U {n},u{n}@example.com,2021-01-01,31,170,70,Low,x" for n in range(5, 30)],
    )
    copied, executed = both_paths(
        monkeypatch, [(first, {"chunk_size": 4}), (second, {"chunk_size": 3})]
    )
    assert copied == executed


@pytest.mark.slow
def test_a_hundred_thousand_users_load_the_same_both_ways(tmp_path, monkeypatch) -> None:
    randomness = random.Random(12)
    levels, goals = ("Low", "Moderate", "High"), ("Weight Loss", "Heart Health", "Flexibility")

    def row(number: int, age: int) -> str:
        return (
            f"{number},User {number},user{number}@example.com,2021-01-01,{age},"
            f"{randomness.randint(140, 210)},{randomness.randint(400, 1400) / 10:.1f},"
            f"{randomness.choice(levels)},{randomness.choice(goals)}"
        )

    first = csv_file(tmp_path, *[row(n, 30) for n in range(100_000)])
    randomness.seed(12)  # the same measures again: only the ages below differ
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = csv_file(
        second_dir, *[row(n, 30 + (n % 4 == 0)) for n in range(50_000, 150_000)], "bad,row"
    )
    copied, executed = both_paths(monkeypatch, [(first, {}), (second, {})])
    assert copied == executed
    assert copied[0][0][:3] == (100_000, 0, 0)
    assert len(copied[1]) == 150_000
