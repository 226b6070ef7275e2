# The production image: one image for web (gunicorn), the django-q2 cluster and the mock endpoint.
# Built in two stages so compilers and pip caches never reach the image that runs.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
# Only the dependency list: source changes do not invalidate this layer.
COPY pyproject.toml README.md ./
# The devtools extra (uvicorn) runs the mock endpoint service of the compose file.
RUN pip install --upgrade pip && pip install '.[devtools]'

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=settings.production
RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Code stays owned by root: the app user can read it, not change it.
COPY . .
# Production settings refuse to load without a secret key and hosts: give throwaway
# values to this one step only (collectstatic never signs anything); nothing is kept in the image.
RUN DJANGO_SECRET_KEY=collectstatic-only-throwaway-value-not-used-at-runtime \
    DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["gunicorn", "settings.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
