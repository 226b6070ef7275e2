"""NOTIFICATIONS_TRANSPORT and the protection settings, read into DeliverySettings."""

from __future__ import annotations

import pytest

from delivery.conf import DeliverySettings, DeliverySettingsError
from delivery.transport import AiohttpTransport, RequestsTransport, transport_build


def test_the_default_transport_is_aiohttp(delivery_settings):
    config = DeliverySettings.from_settings()

    transport = transport_build(config=config, concurrency=8)
    try:
        assert isinstance(transport, AiohttpTransport)
        assert transport.pool_size == 8
    finally:
        transport.close()


def test_requests_is_selectable(delivery_settings):
    delivery_settings.NOTIFICATIONS_TRANSPORT = "requests"

    transport = transport_build(config=DeliverySettings.from_settings(), concurrency=8)
    try:
        assert isinstance(transport, RequestsTransport)
    finally:
        transport.close()


@pytest.mark.parametrize("name", ["httpx", "", "AIOHTTP "])
def test_an_unknown_transport_is_refused_by_name(delivery_settings, name):
    delivery_settings.NOTIFICATIONS_TRANSPORT = name

    with pytest.raises(DeliverySettingsError, match="NOTIFICATIONS_TRANSPORT"):
        DeliverySettings.from_settings()


def test_the_protection_settings_reach_the_config(delivery_settings):
    delivery_settings.NOTIFICATIONS_MAX_RATE = 12.5
    delivery_settings.NOTIFICATIONS_BREAKER_FAILURES = 7
    delivery_settings.NOTIFICATIONS_BREAKER_COOLDOWN_SECONDS = 0.5

    config = DeliverySettings.from_settings()

    assert (config.max_rate, config.breaker_failures, config.breaker_cooldown_seconds) == (
        12.5,
        7,
        0.5,
    )


def test_no_rate_limit_by_default(delivery_settings):
    assert DeliverySettings.from_settings().max_rate is None


def test_the_command_says_an_unknown_transport_in_one_line(delivery_settings, db):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    delivery_settings.NOTIFICATIONS_TRANSPORT = "httpx"

    with pytest.raises(CommandError, match="NOTIFICATIONS_TRANSPORT must be one of"):
        call_command("runpipeline", "deliver")


def test_a_metrics_port_in_use_is_one_line(delivery_settings, db):
    import socket

    from django.core.management import call_command
    from django.core.management.base import CommandError

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CommandError, match=f"cannot serve metrics on port {port}"):
            call_command("runpipeline", "deliver", "--metrics-port", str(port))
