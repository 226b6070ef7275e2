"""Who is on the other end of a request, behind the TLS-terminating proxy or not."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address: the proxy's last ``X-Forwarded-For`` entry when behind one, else the peer.

    Only the entry the proxy itself appended is trusted; anything before it was
    written by the client and could name any address.
    """
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "")
