"""URLs as they may be printed or logged: whatever sits before ``@`` in the authority is hidden.

A ``NOTIFICATIONS_URL`` (or a redirect's ``Location``) may carry a user name and
password, or a token in their place; none of it belongs in an error line, a log
or the attempt log. Works on text that is not a valid URL too, since that is
exactly what error messages show.
"""

from __future__ import annotations

import re

# An optional scheme and "//", then the userinfo: anything up to the last "@" before
# the path, query or fragment starts.
USERINFO = re.compile(r"^(?P<prefix>(?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?[^/?#]*@")


def url_redact(url: str) -> str:
    """``url`` with its userinfo replaced by ``***`` (unchanged when it has none)."""
    return USERINFO.sub(lambda match: f"{match['prefix'] or ''}***@", url, count=1)
