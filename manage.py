#!/usr/bin/env python
"""Django's command-line entry point; the development settings serve unless told otherwise."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.development")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Settings read the environment: a bad variable is one line naming it, not a traceback.
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as error:
        sys.exit(f"configuration error: {error}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
