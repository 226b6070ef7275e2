"""What can be checked of the Docker set-up without a Docker engine: files parse and agree with the settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "migrate", "web", "qcluster", "mock-endpoint"}
APP_SERVICES = SERVICES - {"postgres"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (PROJECT_DIR / "Dockerfile").read_text()


def env_example_names() -> set[str]:
    text = (PROJECT_DIR / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def settings_env_names() -> set[str]:
    names: set[str] = set()
    for module in ("base.py", "production.py"):
        source = (PROJECT_DIR / "settings" / module).read_text()
        names |= set(
            re.findall(
                r"env_(?:str|int|float|bool|list|time|timezone)\(\s*\"([A-Z0-9_]+)\"", source
            )
        )
    return names


def command_text(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_compose_defines_every_service(compose):
    assert set(compose["services"]) == SERVICES


def test_app_services_read_the_env_file(compose):
    for name in APP_SERVICES:
        assert compose["services"][name]["env_file"] == ".env", name


def test_app_services_get_the_database_url(compose):
    for name in APP_SERVICES:
        assert "DATABASE_URL" in compose["services"][name]["environment"], name


def test_postgres_has_a_volume_and_a_health_check(compose):
    postgres = compose["services"]["postgres"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "pgdata" in compose["volumes"]


def test_migrate_is_one_shot_and_migrates_loads_and_sets_up_schedules(compose):
    migrate = compose["services"]["migrate"]
    command = command_text(migrate)
    assert migrate["restart"] == "no"
    assert "migrate" in command and "load_users" in command and "setup_schedules" in command
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("web", "gunicorn settings.wsgi:application"),
        ("qcluster", "manage.py qcluster"),
        ("mock-endpoint", "manage.py mock_endpoint --host 0.0.0.0 --port 5001"),
    ],
)
def test_long_running_services_run_their_command_after_migrate(compose, service, expected):
    config = compose["services"][service]
    assert expected in command_text(config)
    if service != "mock-endpoint":
        assert config["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_env_example_names_every_variable_the_settings_read():
    missing = settings_env_names() - env_example_names()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_holds_no_secret_values():
    text = (PROJECT_DIR / ".env.example").read_text()
    for name in (
        "DJANGO_SECRET_KEY",
        "POSTGRES_PASSWORD",
        "OPENAI_API_KEY",
        "NOTIFICATIONS_SIGNING_SECRET",
    ):
        assert re.search(rf"^{name}=$", text, flags=re.MULTILINE), name


def test_compose_variables_are_named_in_env_example(compose):
    text = (PROJECT_DIR / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    assert used <= env_example_names()


def test_dockerfile_is_multi_stage_on_python_slim(dockerfile):
    stages = re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE)
    assert len(stages) >= 2
    assert all(stage == "python:3.11-slim" for stage in stages)
    assert "COPY --from=builder" in dockerfile


def test_dockerfile_runs_as_a_non_root_user(dockerfile):
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


def test_dockerfile_uses_production_settings_and_gunicorn(dockerfile):
    assert re.search(r"DJANGO_SETTINGS_MODULE=settings\.production", dockerfile)
    assert re.search(r"^CMD .*gunicorn", dockerfile, flags=re.MULTILINE)


def test_dockerfile_health_check_calls_healthz_without_curl(dockerfile):
    healthcheck = dockerfile.split("HEALTHCHECK", 1)[1].split("\nCMD", 1)[0]
    assert "/healthz" in healthcheck and "urllib" in healthcheck
    assert "curl" not in dockerfile


def test_dockerfile_bakes_no_secrets(dockerfile):
    # ENV and ARG values persist in the image's metadata; a secret may only appear inline in a RUN.
    for line in re.findall(r"^(?:ENV|ARG)\b.*(?:\n\s+.*)*", dockerfile, flags=re.MULTILINE):
        assert not re.search(r"SECRET|PASSWORD|API_KEY|TOKEN", line), line


def test_dockerignore_keeps_local_state_out():
    ignored = set((PROJECT_DIR / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env", "*.sqlite3"} <= ignored


def test_the_mock_endpoint_is_on_an_internal_network_only(compose):
    mock = compose["services"]["mock-endpoint"]
    assert "ports" not in mock
    assert mock["networks"] == ["mock"]
    assert compose["networks"]["mock"]["internal"] is True
    assert "mock" in compose["services"]["qcluster"]["networks"]
