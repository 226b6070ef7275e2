"""The requests transport against the transport contract, and what is its own."""

from __future__ import annotations

import sys

import pytest

from delivery.transport import RequestsTransport
from tests.delivery.transport_contract import TransportContract


class TestRequestsTransport(TransportContract):
    @pytest.fixture
    def transport_build(self):
        return lambda config: RequestsTransport(config=config)


def test_the_module_named_requests_does_not_shadow_the_library():
    import requests

    from delivery.transport import requests as transport_module

    assert transport_module.requests is requests
    assert sys.modules["requests"] is requests
    assert requests.__name__ == "requests"
    assert hasattr(requests, "Session")
