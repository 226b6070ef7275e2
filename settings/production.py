"""The flavour Docker runs: secrets and hosts must come from the environment, DEBUG is never on."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env_bool, env_int, env_str

DEBUG = False
if env_bool("DJANGO_DEBUG", False):
    raise ImproperlyConfigured("DJANGO_DEBUG must not be on in production; unset it.")

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production.")
# 50: the length below which `check --deploy` calls a key weak (security.W009).
if SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a random value of 50 characters or more.")

if not env_str("DJANGO_ALLOWED_HOSTS"):
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set in production (comma-separated).")

# /metrics answers only a scraper that sends METRICS_TOKEN (and does not exist without one).
METRICS_REQUIRE_TOKEN = True

SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_TRUSTED_ORIGINS = [
    origin for origin in env_str("DJANGO_CSRF_TRUSTED_ORIGINS").split(",") if origin.strip()
]
# HTTPS behind a TLS-terminating proxy: plain HTTP is redirected, and the proxy's
# X-Forwarded-Proto (and X-Forwarded-For, for the admin's lockout) are believed.
# Both false serve plain HTTP directly (a loopback test, a local `docker compose up`).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
BEHIND_PROXY = env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
# The container's health check and a load balancer's probe speak plain HTTP to the process.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Browsers keep to HTTPS for this host (and hosts under it); sent on HTTPS answers only.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload (security.W021) is a request to browsers' built-in lists, made for a whole
    # registered domain by its owner; it is not this service's to make from its own host name.
    "security.W021",
]

# gunicorn serves no static files: WhiteNoise serves the admin's CSS and JS collected at build time.
# Right after SecurityMiddleware, as WhiteNoise asks.
_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1  # noqa: F405
MIDDLEWARE = [
    *MIDDLEWARE[:_after_security],  # noqa: F405
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[_after_security:],  # noqa: F405
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
