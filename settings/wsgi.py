"""WSGI entry point for gunicorn: the production flavour unless told otherwise.

A server started without ``DJANGO_SETTINGS_MODULE`` must never run the development
settings (DEBUG on, a known secret key); production refuses to start unconfigured.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.production")

application = get_wsgi_application()
