"""The default flavour for a laptop: nothing to set, DEBUG on unless told otherwise."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)

# A laptop answers the legacy lookup and the API docs without a key (/api/v1/ always needs one).
API_DEVELOPMENT_OPEN = True
