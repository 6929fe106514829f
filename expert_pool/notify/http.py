"""The HTTP client a real provider talks through: injected (tests capture requests with
``httpx.MockTransport``), or made on first use and closed with the provider."""

from __future__ import annotations

from typing import Any, Self

import httpx


class HttpClientOwner:
    """Mixin for providers: ``config.timeout_seconds`` sizes the client it makes itself."""

    config: Any
    _client: httpx.AsyncClient | None
    _owns_client: bool

    def _use_client(self, client: httpx.AsyncClient | None) -> None:
        self._client = client
        self._owns_client = client is None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.timeout_seconds)
        return self._client

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
