"""Settings for the test suite: development settings, a fast password hasher, a file test database.

The SQLite test database is a file (not memory) so that tests can start worker
processes against it; its name carries the process id so parallel runs never share one.
"""

import os

from .development import *  # noqa: F403
from .development import BASE_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {
        "NAME": str(BASE_DIR / ".test-db" / f"test-{os.getpid()}.sqlite3"),
    }
