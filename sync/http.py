"""The HTTP client: a thin httpx layer over the protocol (ADR 0034).

`HttpTransport` carries sync exchanges; `enroll`, `list_devices` and `revoke`
are the account calls. Transport failures and 5xx/429 answers become
`TransientError` (the replica retries them); any other non-2xx answer becomes
the server's `Refusal`, with its code and message, so the CLI prints exactly
what the server said.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from . import protocol
from .protocol import (
    DeviceInfo,
    DevicesResponse,
    E2eRequest,
    E2eStatus,
    EnrollRequest,
    EnrollResponse,
    Format,
    Refusal,
    RevokeRequest,
    RotateRequest,
)
from .replica import TransientError

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class HttpTransport:
    """Sync exchanges over one keep-alive HTTP connection."""

    def __init__(
        self,
        url: str,
        token: str | None,
        format: Format = "msgpack",
        *,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.format: Format = format
        media = protocol.media_type(format)
        headers = {"Content-Type": media, "Accept": media}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self._client = client or httpx.Client(base_url=self.url, timeout=TIMEOUT)
        self._headers = headers

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        """One call; classifies every failure as transient or a refusal."""
        try:
            response = self._client.request(method, path, content=body, headers=self._headers)
        except httpx.TransportError as exc:
            raise TransientError(f"cannot reach {self.url}: {exc or type(exc).__name__}") from exc
        if response.is_success:
            return response.content
        refusal = Refusal.from_body(response.status_code, response.content)
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"server error {response.status_code}: {refusal}")
        raise refusal

    def exchange(self, body: bytes) -> bytes:
        return self.request("POST", "/v1/sync", body)


def _call(url: str, token: str | None, method: str, path: str, message: Any = None) -> bytes:
    with HttpTransport(url, token, "json") as transport:
        body = None if message is None else protocol.encode(message, "json")
        return transport.request(method, path, body)


def enroll(
    url: str,
    token: str,
    device_id: str,
    device_name: str,
    current: str | None = None,
    *,
    key_id: str | None = None,
    e2e: bool = False,
) -> EnrollResponse:
    """Trade an enrollment token for this device's own token.

    `current`, the device's token if it has one, is sent as its credentials:
    the server lets an enrolled device id enroll again only with it. `key_id`
    is the id of the owner key the device holds (end-to-end encryption), `e2e`
    asks to make the owner encrypted under it.
    """
    request = EnrollRequest(
        token=token, device_id=device_id, device_name=device_name, key_id=key_id, e2e=e2e
    )
    reply: EnrollResponse = protocol.decode(
        _call(url, current, "POST", "/v1/enroll", request), EnrollResponse, "json"
    )
    return reply


def list_devices(url: str, token: str) -> list[DeviceInfo]:
    reply: DevicesResponse = protocol.decode(
        _call(url, token, "GET", "/v1/devices"), DevicesResponse, "json"
    )
    return reply.devices


def revoke(url: str, token: str, device: str) -> DeviceInfo:
    reply: DeviceInfo = protocol.decode(
        _call(url, token, "POST", "/v1/devices/revoke", RevokeRequest(device=device)),
        DeviceInfo,
        "json",
    )
    return reply


def e2e_status(url: str, token: str) -> E2eStatus:
    """Whether the device's owner is end-to-end encrypted (its key id)."""
    reply: E2eStatus = protocol.decode(_call(url, token, "GET", "/v1/e2e"), E2eStatus, "json")
    return reply


def e2e_enable(url: str, token: str, key_id: str) -> E2eStatus:
    """Make the device's owner end-to-end encrypted under `key_id`."""
    reply: E2eStatus = protocol.decode(
        _call(url, token, "POST", "/v1/e2e", E2eRequest(key_id=key_id)), E2eStatus, "json"
    )
    return reply


def e2e_rotate(url: str, token: str, key_id: str, new_key_id: str) -> E2eStatus:
    """Replace the owner's key id (`key_id` must be the current one)."""
    request = RotateRequest(key_id=key_id, new_key_id=new_key_id)
    reply: E2eStatus = protocol.decode(
        _call(url, token, "POST", "/v1/e2e/rotate", request), E2eStatus, "json"
    )
    return reply
