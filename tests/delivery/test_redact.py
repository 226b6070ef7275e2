"""URLs as they may be shown: the userinfo (a name, a password, a token) never is."""

from __future__ import annotations

import pytest

from delivery.redact import url_redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:secret@host/n", "http://***@host/n"),
        ("https://token@host:8443/n?x=1", "https://***@host:8443/n?x=1"),
        ("http://user:p@ss@host/n", "http://***@host/n"),
        ("http://host/n", "http://host/n"),
        ("http://host/path@not-userinfo", "http://host/path@not-userinfo"),
        ("http://host/n?next=a@b", "http://host/n?next=a@b"),
        ("http://host/n#a@b", "http://host/n#a@b"),
        ("user:secret@host/n", "***@host/n"),
        ("//user:secret@host/n", "//***@host/n"),
        ("/relative/path", "/relative/path"),
        ("", ""),
    ],
)
def test_url_redact(url, shown):
    assert url_redact(url) == shown
