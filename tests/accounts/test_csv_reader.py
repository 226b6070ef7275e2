"""The users file's reading rules: one physical line is at most one record.

A quoted field that runs past its line (a stray quote) is a row error for that line,
and reading resumes on the next line, so the rows after it load and are counted.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.csv_import import CsvImportError, users_load_csv
from accounts.models import User
from tests.accounts.users_csv import ALICE, HEADER, csv_file, reasons

pytestmark = pytest.mark.django_db

STRAY_QUOTE = '1201,"Bad Quote,bq@example.com,2021-03-01,41,172,68,Low,Heart Health'


def good_row(number: int) -> str:
    return f"{number},User {number},u{number}@example.com,2021-01-01,30,170,70,Low,x"


def test_a_stray_quote_is_a_row_error_and_the_999_rows_after_it_load(tmp_path):
    path = csv_file(tmp_path, ALICE, STRAY_QUOTE, *map(good_row, range(2, 1001)))

    report = users_load_csv(path=path)

    assert reasons(report) == ["line 3: unterminated quote"]
    assert report.summary() == "created 1000, updated 0, unchanged 0, skipped 1"
    assert User.objects.count() == 1000
    assert not User.objects.filter(user_id="1201").exists()


def test_a_stray_quote_on_the_last_line_is_a_row_error(tmp_path):
    report = users_load_csv(path=csv_file(tmp_path, ALICE, STRAY_QUOTE))

    assert reasons(report) == ["line 3: unterminated quote"]
    assert report.summary() == "created 1, updated 0, unchanged 0, skipped 1"


def test_a_stray_quote_without_a_final_line_break_is_a_row_error(tmp_path):
    path = csv_file(tmp_path, raw=f"{HEADER}\n{ALICE}\n{STRAY_QUOTE}".encode())

    report = users_load_csv(path=path)

    assert reasons(report) == ["line 3: unterminated quote"]


def test_lines_ending_in_crlf_or_cr_alone_are_lines_too(tmp_path):
    raw = f"{HEADER}\r\n{STRAY_QUOTE}\r{ALICE}\r\n{good_row(2)}\r".encode()

    report = users_load_csv(path=csv_file(tmp_path, raw=raw))

    assert reasons(report) == ["line 2: unterminated quote"]
    assert report.summary() == "created 2, updated 0, unchanged 0, skipped 1"


def test_a_quote_that_closes_on_its_line_keeps_its_commas(tmp_path):
    report = users_load_csv(
        path=csv_file(tmp_path, STRAY_QUOTE.replace("Bad Quote,", 'Bad, Quote",'))
    )

    assert reasons(report) == []
    assert User.objects.get(user_id="1201").name == "Bad, Quote"


def test_a_stray_quote_in_the_header_is_a_csv_import_error(tmp_path):
    path = csv_file(tmp_path, ALICE, header=HEADER.replace("name", '"name'))

    with pytest.raises(CsvImportError, match=r"line 1: the header has an unterminated quote$"):
        users_load_csv(path=path)


# Kinds of line, each made from the line's position (so good ids are distinct).
LINE_KINDS = {
    "good": good_row,
    "quoted comma": lambda n: f'{n},"Last, First",l{n}@example.com,2021-01-01,30,170,70,Low,x',
    "stray quote": lambda n: f'{n},"Stray,s{n}@example.com,2021-01-01,30,170,70,Low,x',
    "quote at the end": lambda n: f'{n},Name,n{n}@example.com,2021-01-01,30,170,70,Low,"',
    "closing quote alone": lambda n: f'{n}",Name,c{n}@example.com',
    "short": lambda n: f"{n},Short",
    "bad age": lambda n: good_row(n).replace(",30,", ",old,"),
    "duplicate": lambda n: good_row(1),
    "blank": lambda n: "",
    "spaces": lambda n: "   ",
}
BLANK_KINDS = {"blank", "spaces"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(st.sampled_from(sorted(LINE_KINDS)), max_size=25))
def test_the_counts_add_up_to_the_data_lines_whatever_the_lines(kinds):
    User.objects.all().delete()
    lines = [good_row(1), *(LINE_KINDS[kind](number) for number, kind in enumerate(kinds, 2))]
    with tempfile.TemporaryDirectory() as directory:
        report = users_load_csv(path=csv_file(Path(directory), *lines))

    data_lines = 1 + sum(kind not in BLANK_KINDS for kind in kinds)
    assert report.created + report.updated + report.unchanged + report.skipped == data_lines
    loaded = {"good", "quoted comma"}
    assert report.created == 1 + sum(kind in loaded for kind in kinds)
