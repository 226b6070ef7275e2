"""A hard deadline on each whole model request, which the client's own timeout is not.

The ``openai`` client's timeout bounds each phase and each read: a server that
answers ``200`` and then sends a byte every second never trips it, and the request
waits for as long as the server likes. Here every HTTP attempt (connecting, the
headers and the whole body) runs under one ``asyncio.timeout``: at the deadline the
read is cancelled, the connection closed, and the client sees the same timeout
error as any other, so its retries and the generator's fallback and breaker apply
unchanged. Cancellation is only clean in asyncio, which is why the OpenAI generator
uses the async client.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai


class DeadlineHttpClient(openai.DefaultAsyncHttpxClient):
    """The ``openai`` client's default HTTP client, each request read whole within ``deadline`` seconds."""

    def __init__(self, *, deadline: float, **options: Any) -> None:
        super().__init__(**options)
        self.deadline = deadline

    async def send(self, request: httpx2.Request, *, stream: bool = False, **options: Any):
        # The body is read inside the deadline even when the caller asked to stream:
        # a stream handed back would be read later, with no deadline at all.
        try:
            async with asyncio.timeout(self.deadline):
                return await super().send(request, stream=False, **options)
        except TimeoutError:
            raise httpx2.ReadTimeout(
                f"no complete answer within {self.deadline:g} s", request=request
            ) from None
