"""An in-process transport: the server's handler called directly, no HTTP.

Tests drive the real replica and the real server logic through it (and wrap it
to inject faults); only the HTTP framing is skipped.
"""

from __future__ import annotations

from sync.protocol import Format

from .service import SyncService


class LocalTransport:
    """Calls `SyncService.sync` with a device token, as the HTTP endpoint does."""

    def __init__(self, service: SyncService, token: str, format: Format = "msgpack") -> None:
        self.service = service
        self.token = token
        self.format: Format = format

    def exchange(self, body: bytes) -> bytes:
        device = self.service.accounts.authenticate(f"Bearer {self.token}")
        return self.service.sync(device, body, self.format, self.format)
