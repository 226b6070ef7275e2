"""`make demo`: the whole daily job on a laptop, with nothing configured.

Migrates the embedded database, loads the users (spread over zones around the world),
starts the mock endpoint, generates the notifications whose local send time is within
the next day (offline unless OPENAI_API_KEY is set), delivers what is due now, shows
what the endpoint received and what is scheduled for later, then stops the endpoint.

Whatever the hour, some users' local morning has come (their notification is
delivered now) and some users' has not (theirs waits for it): the users' zones are
spread so that at any instant several of them are inside their delivery window.
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
# The scheduled generate writes the rows opening within a few hours; the demo looks a
# day ahead so that every user's next morning shows, scheduled, whatever the hour.
DEMO_GENERATE_AHEAD_HOURS = "24"


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
        "NOTIFICATIONS_GENERATE_AHEAD_HOURS": DEMO_GENERATE_AHEAD_HOURS,
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
        step(
            f"generate what opens within {env['NOTIFICATIONS_GENERATE_AHEAD_HOURS']} h, "
            "then deliver what is due now",
            "runpipeline",
            env=env,
        )
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
    delivered_ids = {entry["idempotency_key"] for entry in record["received"]}
    show_windows(env=env, delivered_ids=delivered_ids)
    print(
        "\nWhere to look next:\n"
        "  python manage.py createsuperuser && python manage.py runserver\n"
        "  http://127.0.0.1:8000/admin/ (deliveries with send_at/expires_at, attempts, "
        "the delivery dashboard)\n"
        "  http://127.0.0.1:8000/users/?name=an (the lookup API)\n"
        "  Re-run `make demo` later: what was scheduled is delivered once its users' local "
        "morning comes; nothing is generated or sent twice."
    )


def show_windows(*, env: dict[str, str], delivered_ids: set[str]) -> None:
    """Per user: their local time now, what this run delivered, what waits for a later window."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.development")
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import User
    from outbox.models import DailyNotification
    from outbox.window import zone_for

    now = timezone.now()
    send_time = settings.NOTIFICATIONS_SEND_TIME.strftime("%H:%M")
    until = settings.NOTIFICATIONS_DELIVER_UNTIL
    window = (
        f"users between their local {send_time} and {until:%H:%M}"
        if until is not None
        else f"users whose local {send_time} has passed"
    )
    rows = DailyNotification.objects.filter(
        status__in=(DailyNotification.Status.PENDING, DailyNotification.Status.DELIVERED)
    ).order_by("send_at")
    delivered: dict[str, list[DailyNotification]] = {}
    scheduled: dict[str, list[DailyNotification]] = {}
    for row in rows:
        if str(row.id) in delivered_ids and row.status == DailyNotification.Status.DELIVERED:
            delivered.setdefault(row.user_id, []).append(row)
        elif row.status == DailyNotification.Status.PENDING and row.send_at > now:
            scheduled.setdefault(row.user_id, []).append(row)

    print(f"\nEach user's notification goes out at their own local {send_time}:")
    print(f"  {'user':<15} {'zone':<20} {'local now':<10} {'delivered now':<15} scheduled for")
    for user in User.objects.order_by("signup_date", "user_id"):
        zone = zone_for(user.timezone or settings.TIME_ZONE)
        local_now = now.astimezone(zone).strftime("%a %H:%M")
        sent = ", ".join(row.category for row in delivered.get(user.user_id, [])) or "-"
        later = ", ".join(
            f"{row.send_at.astimezone(zone):%a %H:%M} local (in {duration(row.send_at - now)})"
            for row in scheduled.get(user.user_id, [])
        )
        print(f"  {user.name:<15} {zone.key:<20} {local_now:<10} {sent:<15} {later or '-'}")
    delivered_count = sum(len(found) for found in delivered.values())
    scheduled_count = sum(len(found) for found in scheduled.values())
    print(
        f"\ndelivered now: {delivered_count} ({window}) "
        f"· scheduled for later: {scheduled_count} (sent when their local {send_time} comes)"
    )


def duration(delta) -> str:
    """A time span as ``5 h 07 min``."""
    minutes = max(0, int(delta.total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d} min"


if __name__ == "__main__":
    main()
