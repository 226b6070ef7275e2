"""`make demo`: the whole daily job on a laptop, with nothing configured.

Migrates the embedded database, loads the users, starts the mock endpoint, generates
today's notifications (offline unless OPENAI_API_KEY is set), delivers them, shows what
the endpoint received and where to look, then stops the endpoint it started.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(PROJECT_DIR / "manage.py")]


def free_port(preferred: int) -> int:
    """The preferred port when nothing listens there, else one the kernel picks."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def step(title: str, *args: str, env: dict[str, str]) -> None:
    """Run one manage.py command, echoing it, and stop the demo if it fails."""
    print(f"\n$ python manage.py {' '.join(args)}    # {title}", flush=True)
    result = subprocess.run([*MANAGE, *args], cwd=PROJECT_DIR, env=env)
    if result.returncode != 0:
        sys.exit(f"demo stopped: `manage.py {' '.join(args)}` exited with {result.returncode}")


def wait_until_listening(port: int, *, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"demo stopped: the mock endpoint did not listen on port {port}")


def main() -> None:
    port = free_port(5001)
    endpoint = f"http://127.0.0.1:{port}/notifications"
    # The commands' summary lines tell the story; their INFO logs would say it twice.
    env = {
        "LOG_LEVEL": "WARNING",
        **os.environ,
        "NOTIFICATIONS_URL": endpoint,
        "PYTHONUNBUFFERED": "1",
    }

    step("create or update the database", "migrate", "--no-input", "-v", "0", env=env)
    step("load the app users", "load_users", "data/users.csv", env=env)
    step("the legacy lookup, now a command", "users", "--id", "1", env=env)
    step("the django-q2 schedules (safe to re-run)", "setup_schedules", env=env)

    print(f"\n$ python manage.py mock_endpoint --port {port} &    # the external endpoint")
    mock = subprocess.Popen(
        [*MANAGE, "mock_endpoint", "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_DIR,
        env=env,
    )
    try:
        wait_until_listening(port)
        step("generate today's notifications, then deliver them", "runpipeline", env=env)
        with urllib.request.urlopen(endpoint, timeout=10) as response:
            record = json.load(response)
    finally:
        mock.terminate()
        mock.wait(timeout=15)

    print(
        f"\nThe endpoint received {record['count']} notification(s), "
        f"{record['duplicates']} duplicate(s). The first one:"
    )
    if record["received"]:
        print(json.dumps(record["received"][0], indent=2, ensure_ascii=False))
    print(
        "\nWhere to look next:\n"
        "  python manage.py createsuperuser && python manage.py runserver\n"
        "  http://127.0.0.1:8000/admin/ (deliveries, attempts, the delivery dashboard)\n"
        "  http://127.0.0.1:8000/users/?name=an (the lookup API)\n"
        "  Re-run `make demo`: it generates and sends nothing new for today."
    )


if __name__ == "__main__":
    main()
