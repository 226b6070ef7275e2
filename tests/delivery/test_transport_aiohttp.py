"""The aiohttp transport against the transport contract, and what is its own."""

from __future__ import annotations

import sys
import threading

import pytest

from delivery.transport import AiohttpTransport
from tests.delivery.transport_contract import TransportContract, notification_build


class TestAiohttpTransport(TransportContract):
    @pytest.fixture
    def transport_build(self):
        return lambda config: AiohttpTransport(config=config)

    def test_attempts_run_on_the_one_loop_thread(self, transport, endpoint) -> None:
        sender = transport(url=endpoint.url)
        before = threading.active_count()

        results = [sender.send(notification_build()) for _ in range(20)]

        assert {result.http_status for result in results} == {200}
        assert threading.active_count() == before
        assert sender.loop_thread.thread.is_alive()

    def test_close_stops_the_loop_thread(self, transport, endpoint) -> None:
        sender = transport(url=endpoint.url)
        sender.send(notification_build())

        sender.close()

        assert not sender.loop_thread.thread.is_alive()
        sender.close()  # a second close (the fixture's) is harmless


def test_the_module_named_aiohttp_does_not_shadow_the_library():
    import aiohttp

    from delivery.transport import aiohttp as transport_module

    assert transport_module.aiohttp is aiohttp
    assert sys.modules["aiohttp"] is aiohttp
    assert hasattr(aiohttp, "ClientSession")
