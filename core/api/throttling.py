"""Requests per client: each API key (or staff user, or anonymous address) has its own budget.

The rate is ``API_THROTTLE_RATE``, read per request so tests can change it. Counts live in
the default cache, which is per process: with N web workers a client may reach N times the rate.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_api_key.models import APIKey

from core.network import client_ip


class ApiClientRateThrottle(SimpleRateThrottle):
    """``API_THROTTLE_RATE`` per API key, per staff user, or per address for anonymous requests."""

    scope = "api"

    def timer(self) -> float:
        # The base class binds ``time.time`` when its module is first imported: imported
        # under a test's frozen clock, it would keep the frozen one (and call it wrongly,
        # as a method) for good. Read at each request, the clock is whatever is current.
        return time.time()

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, APIKey):
            ident = f"key:{request.auth.prefix}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{client_ip(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
