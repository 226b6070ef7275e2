"""users_load_csv: streaming, per-row validation with exact messages, bulk upsert, strict mode."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.csv_import import CsvImportError, RowError, users_load_csv
from accounts.models import User
from tests.accounts.users_csv import ALICE, BOB, HEADER, csv_file, reasons
from tests.factories import user_create

pytestmark = pytest.mark.django_db


def test_the_project_csv_loads_the_ten_users():
    report = users_load_csv(path=settings.BASE_DIR / "data" / "users.csv")

    assert report.summary() == "created 10, updated 0, unchanged 0, skipped 0"
    alice = User.objects.get(user_id="1")
    assert (alice.name, alice.email, alice.signup_date, alice.age) == (
        "Alice Smith",
        "alice@example.com",
        datetime.date(2021, 1, 10),
        30,
    )
    assert (alice.height_cm, alice.weight_kg) == (Decimal("165"), Decimal("60"))
    assert User.objects.count() == 10


def test_reloading_the_same_file_changes_nothing(tmp_path):
    path = csv_file(tmp_path, ALICE, BOB, "3,Bad,bad@,2021-01-01,1,1,1,Low,x")
    users_load_csv(path=path)

    report = users_load_csv(path=path)

    assert report.summary() == "created 0, updated 0, unchanged 2, skipped 1"


def test_a_changed_row_is_updated_and_the_rest_unchanged(tmp_path):
    users_load_csv(path=csv_file(tmp_path, ALICE, BOB))

    report = users_load_csv(path=csv_file(tmp_path, ALICE.replace(",30,", ",31,"), BOB))

    assert report.summary() == "created 0, updated 1, unchanged 1, skipped 0"
    assert User.objects.get(user_id="1").age == 31


def test_a_byte_order_mark_before_the_header_is_ignored(tmp_path):
    path = csv_file(tmp_path, raw=("\ufeff" + HEADER + "\n" + ALICE + "\n").encode("utf-8"))

    assert users_load_csv(path=path).created == 1


def test_quoted_fields_keep_their_commas(tmp_path):
    users_load_csv(
        path=csv_file(
            tmp_path, '1,"Smith, Alice",alice@example.com,2021-01-10,30,165,60,Moderate,"Run, swim"'
        )
    )

    alice = User.objects.get(user_id="1")
    assert (alice.name, alice.health_goals) == ("Smith, Alice", "Run, swim")


def test_unicode_text_is_kept(tmp_path):
    users_load_csv(
        path=csv_file(tmp_path, "1,Zoë Ångström,zoe@example.com,2021-01-10,30,165,60,Élevé,Santé")
    )

    assert User.objects.get(user_id="1").name == "Zoë Ångström"


def test_blank_lines_are_skipped_and_still_counted_in_line_numbers(tmp_path):
    report = users_load_csv(path=csv_file(tmp_path, "", ALICE, "   ", "", "2,Bob"))

    assert report.created == 1
    assert reasons(report) == ["line 6: expected 9 fields, got 2"]


def test_whitespace_around_fields_is_stripped(tmp_path):
    users_load_csv(
        path=csv_file(
            tmp_path,
            " 1 , Alice Smith ,alice@example.com , 2021-01-10, 30 ,165 , 60,Moderate , Weight Loss ",
            header=" user_id , name,email,signup_date,age,height_cm,weight_kg,activity_level,health_goals ",
        )
    )

    alice = User.objects.get(user_id="1")
    assert (alice.name, alice.age, alice.health_goals) == ("Alice Smith", 30, "Weight Loss")


def test_a_quoted_line_break_ends_the_record_and_the_next_line_is_a_row_of_its_own(tmp_path):
    # No field of the users file spans lines: the quote left open on line 2 is its error.
    report = users_load_csv(path=csv_file(tmp_path, '1,"Alice\nSmith",x', "2,Bob"))

    assert reasons(report) == [
        "line 2: unterminated quote",
        "line 3: expected 9 fields, got 2",
        "line 4: expected 9 fields, got 2",
    ]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("7,Bob,bob@example.com,2021-02-15", "expected 9 fields, got 4"),
        (BOB + ",extra,more", "expected 9 fields, got 11"),
        (BOB.replace(",45,", ",abc,"), "age must be a whole number, got 'abc'"),
        (BOB.replace(",45,", ",45.5,"), "age must be a whole number, got '45.5'"),
        (BOB.replace(",45,", ",-3,"), "age must be a whole number, got '-3'"),
        (BOB.replace(",45,", ",200,"), "age must be between 0 and 150, got '200'"),
        (
            BOB.replace("2021-02-15", "2021-13-01"),
            "signup_date must be YYYY-MM-DD, got '2021-13-01'",
        ),
        (
            BOB.replace("2021-02-15", "15/02/2021"),
            "signup_date must be YYYY-MM-DD, got '15/02/2021'",
        ),
        (BOB.replace("bob@example.com", "bob@"), "invalid email 'bob@'"),
        (BOB.replace("bob@example.com", "bob.example.com"), "invalid email 'bob.example.com'"),
        (BOB.replace(",178,", ",tall,"), "height_cm must be a number, got 'tall'"),
        (BOB.replace(",85,", ",NaN,"), "weight_kg must be a number, got 'NaN'"),
        (
            BOB.replace(",85,", ",0,"),
            "weight_kg must be greater than 0 and less than 10000, got '0'",
        ),
        (
            BOB.replace(",178,", ",178.25,"),
            "height_cm must have at most one decimal place, got '178.25'",
        ),
        (BOB.replace("Bob Johnson", ""), "name is empty"),
        (BOB.replace(",Low,", ", ,"), "activity_level is empty"),
        ("2" + "x" * 64 + BOB[1:], "user_id is longer than 64 characters"),
        (BOB.replace(",Low,", "," + "L" * 51 + ","), "activity_level is longer than 50 characters"),
        (BOB.replace("Bob", "B\x00b"), "name contains a NUL character"),
    ],
)
def test_a_bad_row_is_reported_with_its_line_and_skipped(tmp_path, row, reason):
    report = users_load_csv(path=csv_file(tmp_path, ALICE, row))

    assert reasons(report) == [f"line 3: {reason}"]
    assert report.summary() == "created 1, updated 0, unchanged 0, skipped 1"
    assert list(User.objects.values_list("user_id", flat=True)) == ["1"]


def test_long_fields_within_their_limits_load(tmp_path):
    users_load_csv(path=csv_file(tmp_path, ALICE.replace("Alice Smith", "A" * 200)))

    assert User.objects.get(user_id="1").name == "A" * 200


def test_the_report_keeps_a_bounded_number_of_errors_and_streams_them_all(tmp_path):
    streamed: list[RowError] = []
    path = csv_file(tmp_path, *[f"{n},short" for n in range(5)])

    report = users_load_csv(path=path, max_errors=2, on_error=streamed.append)

    assert (len(report.errors), report.skipped, len(streamed)) == (2, 5, 5)


def test_rows_are_upserted_with_a_query_per_chunk_not_per_row(tmp_path):
    rows = [f"{n},User {n},u{n}@example.com,2021-01-01,30,170,70,Low,x" for n in range(60)]
    path = csv_file(tmp_path, *rows)

    with CaptureQueriesContext(connection) as queries:
        report = users_load_csv(path=path, chunk_size=20)

    assert report.created == 60
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    # One count per load numbers the created users' rotation slots; then one select per chunk
    # (SQLite), or one statement comparing, writing and counting per chunk (PostgreSQL's COPY path).
    assert len([sql for sql in selects if "COUNT(" in sql]) == 1
    if connection.vendor == "postgresql":
        upserts = [q["sql"] for q in queries.captured_queries if "ON CONFLICT" in q["sql"]]
        assert len(upserts) == 3
    else:
        assert len([sql for sql in selects if "COUNT(" not in sql]) == 3
    assert len(queries.captured_queries) <= 11


def test_a_timezone_column_is_loaded_and_checked(tmp_path):
    path = csv_file(
        tmp_path,
        ALICE + ",Europe/Paris",
        BOB + ",Mars/Olympus",
        "3,C,c@example.com,2021-01-01,1,1,1,Low,x,",
        header=HEADER + ",timezone",
    )

    report = users_load_csv(path=path)

    assert reasons(report) == ["line 3: timezone must be an IANA zone name, got 'Mars/Olympus'"]
    assert dict(User.objects.values_list("user_id", "timezone")) == {"1": "Europe/Paris", "3": ""}


def test_without_a_timezone_column_an_existing_timezone_is_kept(tmp_path):
    user_create(user_id="1", timezone="Asia/Tokyo")

    users_load_csv(path=csv_file(tmp_path, ALICE))

    assert User.objects.get(user_id="1").timezone == "Asia/Tokyo"


def test_strict_writes_nothing_when_a_row_is_bad_and_still_reports_it(tmp_path):
    user_create(user_id="1", name="Before", email="before@example.com")
    path = csv_file(tmp_path, ALICE, BOB, "3,Short")

    report = users_load_csv(path=path, strict=True)

    assert report.rolled_back
    assert reasons(report) == ["line 4: expected 9 fields, got 2"]
    assert report.summary() == "created 0, updated 0, unchanged 0, skipped 1"
    assert list(User.objects.values_list("user_id", "name")) == [("1", "Before")]


def test_strict_loads_a_clean_file(tmp_path):
    report = users_load_csv(path=csv_file(tmp_path, ALICE, BOB), strict=True)

    assert (report.rolled_back, report.created) == (False, 2)


def test_a_missing_file_is_a_csv_import_error(tmp_path):
    with pytest.raises(CsvImportError, match=r"missing\.csv: no such file$"):
        users_load_csv(path=tmp_path / "missing.csv")


def test_a_directory_is_a_csv_import_error(tmp_path):
    with pytest.raises(CsvImportError, match="is a directory"):
        users_load_csv(path=tmp_path)


def test_a_wrong_header_is_a_csv_import_error(tmp_path):
    path = csv_file(tmp_path, ALICE, header="id,name,email")

    with pytest.raises(
        CsvImportError, match=r"line 1: the header must be user_id,name,.*got id,name,email$"
    ):
        users_load_csv(path=path)
    assert not User.objects.exists()


def test_an_empty_file_is_a_csv_import_error(tmp_path):
    with pytest.raises(CsvImportError, match="the file is empty"):
        users_load_csv(path=csv_file(tmp_path, raw=b""))


def test_a_row_with_bytes_that_are_not_utf8_is_reported_and_the_rest_loads(tmp_path):
    bad = BOB.replace("Bob", "Bj\xf6rn").encode("latin-1")
    path = csv_file(tmp_path, raw=(HEADER + "\n" + ALICE + "\n").encode() + bad + b"\n")

    report = users_load_csv(path=path)

    assert reasons(report) == ["line 3: not valid UTF-8 text"]
    assert list(User.objects.values_list("user_id", flat=True)) == ["1"]


def test_bytes_that_are_not_utf8_are_reported_at_their_exact_line_far_into_the_file(tmp_path):
    rows = [f"{n},User {n},u{n}@example.com,2021-01-01,30,170,70,Low,x" for n in range(1, 1000)]
    lines = [*rows[:499], '500,"Multi\nline \xe9",x@example.com', *rows[500:]]
    raw = ("\n".join([HEADER, *lines]) + "\n").encode("latin-1")

    report = users_load_csv(path=csv_file(tmp_path, raw=raw))

    assert reasons(report) == ["line 501: unterminated quote", "line 502: not valid UTF-8 text"]
    assert report.created == 998


def test_a_header_that_is_not_utf8_is_a_csv_import_error(tmp_path):
    path = csv_file(tmp_path, raw=b"user_id,n\xe4me\n" + ALICE.encode() + b"\n")

    with pytest.raises(CsvImportError, match=r"line 1: the header is not valid UTF-8 text$"):
        users_load_csv(path=path)


@pytest.mark.parametrize("zone", ["Europe", "Etc", "America", "America/Argentina"])
def test_a_timezone_naming_a_directory_of_zones_is_a_row_error(tmp_path, zone):
    path = csv_file(
        tmp_path, ALICE + ",Europe/Paris", BOB + "," + zone, header=HEADER + ",timezone"
    )

    report = users_load_csv(path=path)

    assert reasons(report) == [f"line 3: timezone must be an IANA zone name, got {zone!r}"]
    assert list(User.objects.values_list("user_id", flat=True)) == ["1"]


def test_an_age_of_thousands_of_digits_is_a_row_error(tmp_path):
    report = users_load_csv(path=csv_file(tmp_path, ALICE, BOB.replace(",45,", f",{'1' * 5000},")))

    assert reasons(report) == [f"line 3: age must be between 0 and 150, got '{'1' * 5000}'"]


def test_an_age_with_leading_zeros_still_loads(tmp_path):
    users_load_csv(path=csv_file(tmp_path, ALICE.replace(",30,", ",00030,")))

    assert User.objects.get(user_id="1").age == 30


def test_a_quoted_field_after_a_space_keeps_its_commas(tmp_path):
    path = csv_file(
        tmp_path,
        '21, "Smith, Alice", a@example.com, 2021-01-10, 30, 165, 60, Low, "Weight Loss, Sleep"',
        header=HEADER.replace(",", ", "),
    )

    report = users_load_csv(path=path)

    assert reasons(report) == []
    alice = User.objects.get(user_id="21")
    assert (alice.name, alice.email, alice.health_goals) == (
        "Smith, Alice",
        "a@example.com",
        "Weight Loss, Sleep",
    )


# --- the optional timezone and send_time columns ------------------------------


@pytest.mark.parametrize(
    "extra", ["timezone,send_time", "send_time,timezone", "send_time"], ids=str
)
def test_the_optional_columns_load_in_any_order(tmp_path, extra):
    values = {"timezone": "Asia/Tokyo", "send_time": "07:30"}
    row = ",".join(values[name] for name in extra.split(","))
    path = csv_file(tmp_path, f"{ALICE},{row}", header=f"{HEADER},{extra}")

    report = users_load_csv(path=path)

    assert report.summary() == "created 1, updated 0, unchanged 0, skipped 0"
    alice = User.objects.get(user_id="1")
    assert alice.send_time == datetime.time(7, 30)
    assert alice.timezone == ("Asia/Tokyo" if "timezone" in extra else "")


def test_empty_optional_values_mean_the_defaults(tmp_path):
    path = csv_file(tmp_path, ALICE + ",,", header=HEADER + ",send_time,timezone")

    assert reasons(users_load_csv(path=path)) == []
    alice = User.objects.get(user_id="1")
    assert (alice.timezone, alice.send_time) == ("", None)


@pytest.mark.parametrize("value", ["8:00", "08:00:00", "24:00", "08:60", "8am", "08h00", " "])
def test_a_bad_send_time_is_a_row_error_with_its_line(tmp_path, value):
    path = csv_file(
        tmp_path,
        ALICE + ",06:45",
        f'{BOB},"{value}"',
        header=HEADER + ",send_time",
    )

    report = users_load_csv(path=path)

    if value.strip():
        assert reasons(report) == [
            f"line 3: send_time must be a time of day as HH:MM, got {value!r}"
        ]
        assert list(User.objects.values_list("user_id", flat=True)) == ["1"]
    else:
        # Blanks are stripped like every field's: an empty send time is the default.
        assert reasons(report) == []


def test_a_bad_zone_and_a_bad_time_are_reported_by_line(tmp_path):
    path = csv_file(
        tmp_path,
        ALICE + ",Europe/Paris,09:00",
        BOB + ",Mars/Olympus,09:00",
        "3,C,c@example.com,2021-01-01,1,1,1,Low,x,Asia/Tokyo,9 o'clock",
        "4,D,d@example.com,2021-01-01,1,1,1,Low,x,America/Lima,",
        header=HEADER + ",timezone,send_time",
    )

    report = users_load_csv(path=path)

    assert reasons(report) == [
        "line 3: timezone must be an IANA zone name, got 'Mars/Olympus'",
        'line 4: send_time must be a time of day as HH:MM, got "9 o\'clock"',
    ]
    assert dict(User.objects.values_list("user_id", "send_time")) == {
        "1": datetime.time(9, 0),
        "4": None,
    }


def test_a_changed_send_time_counts_as_updated_and_the_same_as_unchanged(tmp_path):
    users_load_csv(
        path=csv_file(tmp_path, ALICE + ",08:00", BOB + ",09:00", header=HEADER + ",send_time")
    )

    report = users_load_csv(
        path=csv_file(tmp_path, ALICE + ",08:00", BOB + ",09:15", header=HEADER + ",send_time")
    )

    assert report.summary() == "created 0, updated 1, unchanged 1, skipped 0"
    assert User.objects.get(user_id="2").send_time == datetime.time(9, 15)


def test_without_a_send_time_column_an_existing_send_time_and_zone_are_kept(tmp_path):
    user_create(user_id="1", timezone="Asia/Tokyo", send_time=datetime.time(6, 30))

    report = users_load_csv(
        path=csv_file(
            tmp_path, ALICE.replace(",30,", ",31,") + ",Asia/Tokyo", header=HEADER + ",timezone"
        )
    )

    assert report.summary() == "created 0, updated 1, unchanged 0, skipped 0"
    alice = User.objects.get(user_id="1")
    assert (alice.age, alice.timezone, alice.send_time) == (31, "Asia/Tokyo", datetime.time(6, 30))


def test_a_file_without_the_optional_columns_leaves_them_unchanged_and_counts_unchanged(tmp_path):
    user_create(user_id="1", **{"name": "Alice Smith", "email": "alice@example.com"})
    users_load_csv(path=csv_file(tmp_path, ALICE))
    User.objects.filter(user_id="1").update(send_time=datetime.time(7, 0), timezone="Asia/Tokyo")

    report = users_load_csv(path=csv_file(tmp_path, ALICE))

    assert report.summary() == "created 0, updated 0, unchanged 1, skipped 0"
    assert User.objects.get(user_id="1").send_time == datetime.time(7, 0)


@pytest.mark.parametrize(
    "header",
    [
        HEADER + ",timezone,timezone",
        HEADER + ",send_time,send_time",
        HEADER + ",locale",
        HEADER + ",timezone,send_time,locale",
        "timezone," + HEADER,
        HEADER.replace("name,email", "email,name") + ",timezone",
    ],
)
def test_any_other_extra_column_is_a_header_error(tmp_path, header):
    path = csv_file(tmp_path, ALICE + ",x", header=header)

    with pytest.raises(
        CsvImportError,
        match=r"line 1: the header must be user_id,.*,health_goals \(optionally followed by "
        r"timezone and send_time, in any order\), got ",
    ):
        users_load_csv(path=path)
    assert not User.objects.exists()
