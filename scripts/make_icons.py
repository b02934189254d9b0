"""Draw the web app's icons (web/app/icons/*.png) with the standard library alone.

Two rings that overlap on a teal ground: give and ask, two people. `purpose:
any` icons have rounded corners; the maskable one fills its square and keeps the
rings inside the central safe zone. Run from the repository root:
`python scripts/make_icons.py`.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

GROUND = (31, 95, 91)
LEFT_RING = (255, 255, 255)
RIGHT_RING = (240, 180, 90)
SAMPLES = 4  # per axis, for smooth edges


def _png(width: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\0" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _colour(x: float, y: float, size: int, maskable: bool) -> tuple[int, int, int, int]:
    """The colour at (x, y), both in [0, size)."""
    u, v = x / size, y / size
    if not maskable:
        r = 0.18  # corner radius
        cx, cy = min(max(u, r), 1 - r), min(max(v, r), 1 - r)
        if (u - cx) ** 2 + (v - cy) ** 2 > r * r:
            return (0, 0, 0, 0)
    scale = 0.72 if maskable else 1.0  # the maskable safe zone is the central 80%
    u, v = 0.5 + (u - 0.5) / scale, 0.5 + (v - 0.5) / scale
    radius, width = 0.2, 0.06
    for centre, colour in (((0.62, 0.5), RIGHT_RING), ((0.38, 0.5), LEFT_RING)):
        d = ((u - centre[0]) ** 2 + (v - centre[1]) ** 2) ** 0.5
        if abs(d - radius) <= width / 2:
            return (*colour, 255)
    return (*GROUND, 255)


def icon(size: int, maskable: bool) -> bytes:
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            total = [0, 0, 0, 0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    c = _colour(x + (sx + 0.5) / SAMPLES, y + (sy + 0.5) / SAMPLES, size, maskable)
                    for i in range(3):
                        total[i] += c[i] * c[3]
                    total[3] += c[3]
            alpha = total[3] / (SAMPLES * SAMPLES)
            rgb = [round(total[i] / total[3]) if total[3] else 0 for i in range(3)]
            row.extend([*rgb, round(alpha)])
        rows.append(bytes(row))
    return _png(size, rows)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "icon-192.png").write_bytes(icon(192, maskable=False))
    (out / "icon-512.png").write_bytes(icon(512, maskable=False))
    (out / "maskable-512.png").write_bytes(icon(512, maskable=True))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("web/app/icons"))
