"""Name lookups that cannot leave the machine, for the transport contract's DNS failure.

``network_nameserver`` says whether this machine's resolver would send a lookup
over the network (most do: even a reserved `.invalid` name is asked of the
nameserver). ``unresolvable_send`` runs one attempt in a child process inside a
network namespace of its own, where no address is reachable: every lookup fails
locally, at once.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from delivery.conf import DeliverySettings

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
RESOLV_CONF = Path("/etc/resolv.conf")


def network_nameserver() -> str | None:
    """The first nameserver a lookup would reach over the network, or None when all stay local.

    A UDP ``connect`` sends nothing: it only asks the kernel for a route.
    """
    try:
        lines = RESOLV_CONF.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        address = fields[1].split("%")[0]
        try:
            if ipaddress.ip_address(address).is_loopback:
                continue
        except ValueError:
            continue
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((address, 53))
            except OSError:
                continue
        return address
    return None


def unresolvable_send(transport_build, *, url: str) -> dict[str, Any]:
    """One attempt to ``url`` by the transport ``transport_build`` makes, in an empty network namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare(1) (util-linux) to run without a network")
    config = DeliverySettings(
        url=url,
        signing_secret="",
        max_attempts=8,
        backoff_seconds=0.0,
        backoff_max_seconds=3600.0,
        lease_seconds=15.0,
        timeout_seconds=5.0,
    )
    built = transport_build(config)
    kind = type(built)
    built.close()
    completed = subprocess.run(
        [unshare, "--map-root-user", "--net", sys.executable, "-m", __name__],
        input=json.dumps({"transport": f"{kind.__module__}:{kind.__qualname__}", "url": url}),
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        timeout=60,
    )
    if completed.returncode != 0 and "unshare" in completed.stderr.split(":", 1)[0]:
        pytest.skip(f"cannot make a network namespace here: {completed.stderr.strip()}")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def child_main() -> None:
    """In the namespace: build the transport, send one notification, print the result as JSON."""
    import importlib
    import os
    import time

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.test")
    import django

    django.setup()
    from tests.delivery.transport_contract import notification_build

    request = json.loads(sys.stdin.read())
    module, _, name = request["transport"].partition(":")
    kind = getattr(importlib.import_module(module), name)
    transport = kind(
        config=DeliverySettings(
            url=request["url"],
            signing_secret="",
            max_attempts=8,
            backoff_seconds=0.0,
            backoff_max_seconds=3600.0,
            lease_seconds=15.0,
            timeout_seconds=5.0,
        )
    )
    started = time.monotonic()
    try:
        result = transport.send(notification_build(id=uuid.uuid4()))
    finally:
        transport.close()
    print(
        json.dumps(
            {
                "seconds": time.monotonic() - started,
                "http_status": result.http_status,
                "error": result.error,
                "response_excerpt": result.response_excerpt,
            }
        )
    )


if __name__ == "__main__":
    child_main()
