"""The browser device: a JavaScript client library shipped as static files.

`web/client/*.js` are plain ES modules (no build step) that make a browser a
device like the CLI: its own log in IndexedDB, the sync protocol over `/v1/sync`,
and the views folded locally (ADR 0090). `recip serve` serves them under
`/client/`. This package holds no Python logic: only where the files are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

#: The directory of the client library's modules (package data).
CLIENT_DIR: Final = Path(__file__).parent / "client"
