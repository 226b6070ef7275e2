"""The benchmark's settings: production's, with ``bench/api_site.py`` as the URLconf (bench/api.py only)."""

from settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.api_site"
