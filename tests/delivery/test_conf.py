"""The delivery settings are checked once, before any row is claimed."""

from __future__ import annotations

import base64

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from delivery.conf import DeliverySettings, DeliverySettingsError
from outbox.models import DailyNotification
from tests.factories import notification_create


@pytest.mark.parametrize(
    "secret", ["whsec_abc", "whsec_", "whsec_not base64!", "whsec_YWJj\n", "whsec_YW=Jj"]
)
def test_a_whsec_secret_that_is_not_base64_is_refused(delivery_settings, secret):
    delivery_settings.NOTIFICATIONS_SIGNING_SECRET = secret

    with pytest.raises(DeliverySettingsError, match="NOTIFICATIONS_SIGNING_SECRET"):
        DeliverySettings.from_settings()


@pytest.mark.parametrize(
    "secret", ["", "plain secret", "whsec_" + base64.b64encode(b"\x00\x01key").decode()]
)
def test_usable_secrets_are_accepted(delivery_settings, secret):
    delivery_settings.NOTIFICATIONS_SIGNING_SECRET = secret

    assert DeliverySettings.from_settings().signing_secret == secret


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/notifications",
        "http://localhost:99999/n",
        "http://localhost:-1/n",
        "http://localhost:port/n",
        "http:///notifications",
        "ftp://localhost/n",
        "localhost:5001/n",
        "",
    ],
)
def test_an_unusable_url_is_refused(delivery_settings, url):
    delivery_settings.NOTIFICATIONS_URL = url

    with pytest.raises(DeliverySettingsError, match="NOTIFICATIONS_URL"):
        DeliverySettings.from_settings()


@pytest.mark.parametrize(
    "url", ["http://localhost:5001/n", "https://example.com/hook?x=1", "http://[::1]:8080/n"]
)
def test_usable_urls_are_accepted(delivery_settings, url):
    delivery_settings.NOTIFICATIONS_URL = url

    assert DeliverySettings.from_settings().url == url


@pytest.mark.parametrize(("lease", "timeout"), [(4.0, 2.0), (1.0, 5.0), (29.9, 10.0)])
def test_a_lease_shorter_than_three_timeouts_is_refused(delivery_settings, lease, timeout):
    delivery_settings.NOTIFICATIONS_LEASE_SECONDS = lease
    delivery_settings.NOTIFICATIONS_TIMEOUT_SECONDS = timeout

    with pytest.raises(DeliverySettingsError) as raised:
        DeliverySettings.from_settings()

    message = str(raised.value)
    assert f"NOTIFICATIONS_LEASE_SECONDS ({lease:g})" in message
    assert f"NOTIFICATIONS_TIMEOUT_SECONDS ({timeout:g})" in message
    assert "3 times" in message


def test_a_lease_of_exactly_three_timeouts_is_accepted(delivery_settings):
    delivery_settings.NOTIFICATIONS_LEASE_SECONDS = 30.0
    delivery_settings.NOTIFICATIONS_TIMEOUT_SECONDS = 10.0

    assert DeliverySettings.from_settings().lease_seconds == 30.0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NOTIFICATIONS_SIGNING_SECRET", "whsec_abc"),
        ("NOTIFICATIONS_URL", "http://[::1/notifications"),
        ("NOTIFICATIONS_URL", "http://localhost:99999/n"),
    ],
)
def test_the_command_says_so_in_one_line_and_claims_nothing(
    delivery_settings, endpoint, name, value
):
    setattr(delivery_settings, name, value)
    notification = notification_create()

    with pytest.raises(CommandError) as raised:
        call_command("runpipeline", "deliver")

    assert name in str(raised.value)
    assert "\n" not in str(raised.value)
    notification.refresh_from_db()
    assert notification.status == DailyNotification.Status.PENDING
    assert endpoint.app.recorder.received == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ftp://user:s3cret@localhost/n", "ftp://***@localhost/n"),
        ("http://user:s3cret@[::1/n", "http://***@[::1/n"),
        ("http://user:s3cret@localhost:99999/n", "http://***@localhost:99999/n"),
        ("http://user:s3cret@localhost:port/n", "http://***@localhost:port/n"),
        ("user:s3cret@localhost:5001/n", "***@localhost:5001/n"),
        ("http://s3cret@/n", "http://***@/n"),
    ],
)
def test_an_unusable_url_is_named_without_its_credentials(delivery_settings, url, shown):
    delivery_settings.NOTIFICATIONS_URL = url

    with pytest.raises(DeliverySettingsError) as raised:
        DeliverySettings.from_settings()

    message = str(raised.value)
    assert "s3cret" not in message
    assert "user" not in message
    assert shown in message


@pytest.mark.django_db
def test_the_command_line_names_the_url_without_its_password(delivery_settings):
    delivery_settings.NOTIFICATIONS_URL = "ftp://ops:hunter2@hooks.example.com/n"

    with pytest.raises(CommandError) as raised:
        call_command("runpipeline", "deliver")

    assert str(raised.value) == (
        "NOTIFICATIONS_URL must be an http:// or https:// URL, got 'ftp://***@hooks.example.com/n'"
    )
