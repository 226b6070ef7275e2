"""Users CSV files for the loader's tests: the header, two good rows, a file writer."""

from __future__ import annotations

from pathlib import Path

HEADER = "user_id,name,email,signup_date,age,height_cm,weight_kg,activity_level,health_goals"
ALICE = "1,Alice Smith,alice@example.com,2021-01-10,30,165,60,Moderate,Weight Loss"
BOB = "2,Bob Johnson,bob@example.com,2021-02-15,45,178,85,Low,Heart Health"


def csv_file(tmp_path: Path, *lines: str, header: str = HEADER, raw: bytes | None = None) -> Path:
    path = tmp_path / "users.csv"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def reasons(report) -> list[str]:
    return [str(error) for error in report.errors]
