"""The load_users and users commands: output, exit status, strict mode, the default path."""

from __future__ import annotations

import json
import os
import re
import socket
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import User
from tests.factories import user_create

HEADER = "user_id,name,email,signup_date,age,height_cm,weight_kg,activity_level,health_goals"
ALICE = "1,Alice Smith,alice@example.com,2021-01-10,30,165,60,Moderate,Weight Loss"
BOB = "2,Bob Johnson,bob@example.com,2021-02-15,45,178,85,Low,Heart Health"


def csv_file(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "users.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def load_users(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("load_users", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def users(*args: str) -> list[dict]:
    stdout = StringIO()
    call_command("users", *args, stdout=stdout)
    return json.loads(stdout.getvalue())


@pytest.mark.django_db
def test_load_users_prints_bad_rows_on_stderr_and_the_summary_last(tmp_path):
    path = csv_file(tmp_path, ALICE, "2,Bob", BOB.replace(",45,", ",abc,"))

    stdout, stderr = load_users(str(path))

    assert stderr.splitlines() == [
        f"{path}:3: expected 9 fields, got 2",
        f"{path}:4: age must be a whole number, got 'abc'",
    ]
    assert stdout.splitlines()[-1] == "created 1, updated 0, unchanged 0, skipped 2"


@pytest.mark.django_db
def test_load_users_twice_reports_everything_unchanged(tmp_path):
    path = csv_file(tmp_path, ALICE, BOB, "3,Short")
    load_users(str(path))

    stdout, _ = load_users(str(path))

    assert stdout.splitlines()[-1] == "created 0, updated 0, unchanged 2, skipped 1"


@pytest.mark.django_db
def test_load_users_reports_a_stray_quote_and_loads_the_rows_after_it(tmp_path):
    stray = '1201,"Bad Quote,bq@example.com,2021-03-01,41,172,68,Low,Heart Health'
    rows = [f"{n},User {n},u{n}@example.com,2021-01-01,30,170,70,Low,x" for n in range(2, 1001)]
    path = csv_file(tmp_path, ALICE, stray, *rows)

    stdout, stderr = load_users(str(path))

    assert stderr.splitlines() == [f"{path}:3: unterminated quote"]
    assert stdout.splitlines()[-1] == "created 1000, updated 0, unchanged 0, skipped 1"


@pytest.mark.django_db
def test_load_users_reads_the_configured_path_by_default(tmp_path):
    with override_settings(USERS_CSV_PATH=csv_file(tmp_path, ALICE)):
        stdout, _ = load_users()

    assert stdout.splitlines()[-1] == "created 1, updated 0, unchanged 0, skipped 0"


@pytest.mark.django_db
def test_load_users_strict_fails_and_leaves_the_table_untouched(tmp_path):
    user_create(user_id="1", name="Before")
    path = csv_file(tmp_path, ALICE, BOB, "3,Short")

    with pytest.raises(CommandError, match=r"^1 bad rows: nothing loaded \(--strict\)$"):
        load_users(str(path), "--strict")

    assert list(User.objects.values_list("user_id", "name")) == [("1", "Before")]


@pytest.mark.django_db
def test_load_users_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match=r"nope\.csv: no such file$"):
        load_users(str(tmp_path / "nope.csv"))


@pytest.mark.slow
def test_load_users_failure_is_one_line_and_exit_status_1(manage_py, tmp_path):
    process = manage_py("load_users", str(csv_file(tmp_path, ALICE, header="id,name")))
    _stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 1
    assert stderr.strip().splitlines() == [
        f"CommandError: {tmp_path / 'users.csv'}: line 1: the header must be {HEADER} "
        "(optionally followed by timezone and send_time, in any order), got id,name"
    ]


@pytest.mark.slow
def test_load_users_strict_exits_1_when_rows_are_bad(manage_py, tmp_path):
    process = manage_py("load_users", "--strict", str(csv_file(tmp_path, ALICE, "2,Bob")))
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 1
    assert stdout.splitlines()[-1] == "created 0, updated 0, unchanged 0, skipped 1"
    assert "Traceback" not in stderr
    assert not User.objects.exists()


@pytest.mark.slow
def test_load_users_reports_a_row_that_is_not_utf8_and_loads_the_rest(manage_py, tmp_path):
    path = csv_file(tmp_path, ALICE)
    path.write_bytes(path.read_bytes() + BOB.replace("Bob", "Bj\xf6rn").encode("latin-1") + b"\n")
    process = manage_py("load_users", str(path))
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 0
    assert stderr.splitlines() == [f"{path}:3: not valid UTF-8 text"]
    assert stdout.splitlines()[-1] == "created 1, updated 0, unchanged 0, skipped 1"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-16-le", ""), ("utf-16-be", ""), ("utf-16-le", "\ufeff"), ("utf-16-be", "\ufeff")],
)
def test_load_users_refuses_a_utf16_file_in_one_line(tmp_path, encoding, bom):
    path = tmp_path / "users.csv"
    path.write_bytes((bom + "\n".join([HEADER, ALICE, BOB]) + "\n").encode(encoding))

    with pytest.raises(CommandError) as raised:
        load_users(str(path))

    assert str(raised.value) == f"{path}: file is UTF-16, save it as UTF-8"
    assert not User.objects.exists()


@pytest.mark.slow
def test_load_users_utf16_error_prints_no_nul_bytes_and_exits_1(manage_py, tmp_path):
    path = tmp_path / "users.csv"
    path.write_bytes(("\n".join([HEADER, ALICE]) + "\n").encode("utf-16-le"))
    process = manage_py("load_users", str(path))
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 1
    assert "\x00" not in stdout + stderr
    assert stderr.strip().splitlines() == [
        f"CommandError: {path}: file is UTF-16, save it as UTF-8"
    ]


@pytest.mark.django_db
def test_load_users_refuses_a_socket_file_in_one_line(tmp_path):
    path = tmp_path / "users.csv"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))

        with pytest.raises(CommandError, match=rf"^{re.escape(str(path))}: not a regular file$"):
            load_users(str(path))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_load_users_refuses_a_fifo_without_waiting_for_a_writer(manage_py, tmp_path):
    path = tmp_path / "users.csv"
    os.mkfifo(path)
    process = manage_py("load_users", str(path))
    # Opening a FIFO for reading blocks until a writer comes: no writer ever does here.
    _stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == 1
    assert stderr.strip().splitlines() == [f"CommandError: {path}: not a regular file"]


@pytest.mark.django_db
def test_users_by_id_prints_a_json_array():
    user_create(user_id="1", name="Alice Smith")
    user_create(user_id="10", name="Someone Else")

    assert [user["name"] for user in users("--id", "1")] == ["Alice Smith"]


@pytest.mark.django_db
def test_users_by_name_is_case_insensitive_and_partial():
    user_create(user_id="1", name="Alice Smith")
    user_create(user_id="2", name="Zoë Malice")
    user_create(user_id="3", name="Bob")

    assert [user["user_id"] for user in users("--name", "ALIC")] == ["1", "2"]


@pytest.mark.django_db
def test_users_with_no_match_prints_an_empty_array():
    assert users("--name", "nobody") == []


@pytest.mark.parametrize("args", [(), ("--id", "1", "--name", "a")])
def test_users_needs_exactly_one_of_id_and_name(args):
    with pytest.raises(CommandError):
        users(*args)
