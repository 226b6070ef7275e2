"""The header and each row of the users file: typed values, or the first problem, in words.

Length and range bounds come from ``accounts.User``'s fields, so the file and the
table cannot disagree about them.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from accounts.models import CSV_FIELDS, User
from accounts.validators import known_zones

# The columns the header may add after the nine CSV fields, in any order; each is
# optional, and an empty value means the default (the site's zone, the site's send time).
TIMEZONE_COLUMN = "timezone"
SEND_TIME_COLUMN = "send_time"
OPTIONAL_COLUMNS = (TIMEZONE_COLUMN, SEND_TIME_COLUMN)
_ALL_COLUMNS = (*CSV_FIELDS, *OPTIONAL_COLUMNS)
_MODEL_FIELDS = {name: User._meta.get_field(name) for name in _ALL_COLUMNS}
MAX_LENGTHS: dict[str, int] = {
    name: field.max_length for name, field in _MODEL_FIELDS.items() if field.max_length
}
# Columns that may be left empty: the model's blank fields.
_MAY_BE_EMPTY = frozenset(name for name, field in _MODEL_FIELDS.items() if field.blank)
_SHORTEST_LIMIT = min(MAX_LENGTHS.values())
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}")
_WHOLE = re.compile(r"[0-9]+")
# Surrogate escapes: what ``errors="surrogateescape"`` makes of bytes that are not UTF-8.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_MAX_AGE = 150
# Digits after any leading zeros: int() refuses strings past 4,300 digits, and no age needs 4.
_MAX_AGE_DIGITS = len(str(_MAX_AGE))
_email_validate = EmailValidator()
# Plain addresses (almost all of them) match this strict subset of what
# EmailValidator accepts, in a fraction of its time; anything else goes to it.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


class RowInvalid(Exception):
    """A row (or the header) cannot be loaded; the message is the reason."""


class _Measure(NamedTuple):
    """A ``DecimalField``'s bounds: greater than 0, below ``limit``, in steps of ``step``."""

    limit: Decimal
    step: Decimal
    places: str  # the step in words, for the message

    @classmethod
    def of(cls, name: str) -> _Measure:
        field = User._meta.get_field(name)
        places = field.decimal_places
        return cls(
            limit=Decimal(10) ** (field.max_digits - places),
            step=Decimal(1).scaleb(-places),
            places="one decimal place" if places == 1 else f"{places} decimal places",
        )


_MEASURES = {name: _Measure.of(name) for name in ("height_cm", "weight_kg")}


@dataclass(frozen=True)
class Header:
    """The file's columns, the user fields its rows fill, and the IANA names a zone may be.

    ``columns`` is the file's order; ``fields`` the same names in ``_ALL_COLUMNS``
    order, which is the order ``row_parse`` returns values in, whatever the file's.
    """

    columns: tuple[str, ...]
    fields: tuple[str, ...] = CSV_FIELDS
    zones: frozenset[str] = frozenset()


def header_parse(fields: list[str]) -> Header:
    """The columns the header names; raises ``RowInvalid`` when they are not the CSV's.

    The nine CSV fields come first, in order; then any of ``OPTIONAL_COLUMNS``,
    each at most once, in any order. Any other column is refused here, once,
    rather than being ignored row after row.
    """
    columns = tuple(fields)
    extra = columns[len(CSV_FIELDS) :]
    if columns[: len(CSV_FIELDS)] == CSV_FIELDS and (
        set(extra) <= set(OPTIONAL_COLUMNS) and len(set(extra)) == len(extra)
    ):
        return Header(
            columns=columns,
            fields=tuple(name for name in _ALL_COLUMNS if name in columns),
            zones=known_zones() if TIMEZONE_COLUMN in extra else frozenset(),
        )
    if _NOT_UTF8.search("".join(fields)):
        raise RowInvalid("the header is not valid UTF-8 text")
    raise RowInvalid(
        f"the header must be {','.join(CSV_FIELDS)} "
        f"(optionally followed by {' and '.join(OPTIONAL_COLUMNS)}, in any order), "
        f"got {','.join(fields)}"
    )


def row_parse(fields: list[str], *, header: Header) -> tuple:
    """The row's values in column order, typed; raises ``RowInvalid`` with the first problem."""
    columns = header.columns
    joined = "".join(fields)
    # First, so that no other message quotes (and fails to print) undecodable bytes.
    if not joined.isascii() and _NOT_UTF8.search(joined):
        raise RowInvalid("not valid UTF-8 text")
    if len(fields) != len(columns):
        raise RowInvalid(f"expected {len(columns)} fields, got {len(fields)}")
    # Cheap C-level tests first; the field-by-field walk only for rows that may fail it.
    if not all(fields[:9]) or max(map(len, fields)) > _SHORTEST_LIMIT or "\x00" in joined:
        _fields_check(fields, columns=columns)
    user_id, name, email, signup_date, age, height_cm, weight_kg, activity, goals = fields[:9]
    if not _PLAIN_EMAIL.fullmatch(email):
        try:
            _email_validate(email)
        except ValidationError:
            raise RowInvalid(f"invalid email {email!r}") from None
    values = (
        user_id,
        name,
        email,
        _date_parse("signup_date", signup_date),
        _age_parse(age),
        _measure_parse("height_cm", height_cm),
        _measure_parse("weight_kg", weight_kg),
        activity,
        goals,
    )
    if len(columns) == len(CSV_FIELDS):
        return values
    extra = dict(zip(columns[len(CSV_FIELDS) :], fields[len(CSV_FIELDS) :], strict=True))
    parsed = {}
    if TIMEZONE_COLUMN in extra:
        parsed[TIMEZONE_COLUMN] = _timezone_parse(extra[TIMEZONE_COLUMN], zones=header.zones)
    if SEND_TIME_COLUMN in extra:
        parsed[SEND_TIME_COLUMN] = _send_time_parse(extra[SEND_TIME_COLUMN])
    return (*values, *(parsed[name] for name in header.fields[len(CSV_FIELDS) :]))


def _fields_check(fields: list[str], *, columns: tuple[str, ...]) -> None:
    """Raise ``RowInvalid`` for the first empty required or over-long field, if any."""
    for name, value in zip(columns, fields, strict=True):
        if not value and name not in _MAY_BE_EMPTY:
            raise RowInvalid(f"{name} is empty")
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL; refuse it on every database alike.
            raise RowInvalid(f"{name} contains a NUL character")
        limit = MAX_LENGTHS.get(name)
        if limit is not None and len(value) > limit:
            raise RowInvalid(f"{name} is longer than {limit} characters")


def _date_parse(name: str, value: str) -> datetime.date:
    if _DATE.fullmatch(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise RowInvalid(f"{name} must be YYYY-MM-DD, got {value!r}")


def _age_parse(value: str) -> int:
    if not _WHOLE.fullmatch(value):
        raise RowInvalid(f"age must be a whole number, got {value!r}")
    if len(value.lstrip("0")) > _MAX_AGE_DIGITS or int(value) > _MAX_AGE:
        raise RowInvalid(f"age must be between 0 and {_MAX_AGE}, got {value!r}")
    return int(value)


def _measure_parse(name: str, value: str) -> Decimal:
    measure = _MEASURES[name]
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise RowInvalid(f"{name} must be a number, got {value!r}")
    if not 0 < number < measure.limit:
        raise RowInvalid(
            f"{name} must be greater than 0 and less than {measure.limit}, got {value!r}"
        )
    rounded = number.quantize(measure.step)
    if rounded != number:
        raise RowInvalid(f"{name} must have at most {measure.places}, got {value!r}")
    return rounded


def _send_time_parse(value: str) -> datetime.time | None:
    """``HH:MM`` (24-hour) as a time; empty is None (the site's ``NOTIFICATIONS_SEND_TIME``)."""
    if not value:
        return None
    if _TIME.fullmatch(value):
        try:
            return datetime.time.fromisoformat(value)
        except ValueError:
            pass
    raise RowInvalid(f"send_time must be a time of day as HH:MM, got {value!r}")


def _timezone_parse(value: str, *, zones: frozenset[str]) -> str:
    if not value:
        return ""
    limit = MAX_LENGTHS[TIMEZONE_COLUMN]
    if len(value) > limit:
        raise RowInvalid(f"timezone is longer than {limit} characters")
    # A set lookup, not ZoneInfo(value): that opens the file named by the
    # value, and a directory name such as "Europe" raises IsADirectoryError.
    if value not in zones:
        raise RowInvalid(f"timezone must be an IANA zone name, got {value!r}")
    return value
