"""The mock endpoint served for real on a free local port, for the delivery and devtools tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.mock_endpoint import Faults, MockEndpointApp, MockEndpointThread


@pytest.fixture
def endpoint() -> Iterator[MockEndpointThread]:
    """The mock endpoint on 127.0.0.1 and a free port, on a background thread of this process."""
    server = MockEndpointThread(MockEndpointApp(faults=Faults(), seed=7)).start()
    yield server
    server.stop()
