"""Take the README's screenshots of the web app (docs/screenshots/*.png).

A real `recip serve` on a free port, a CLI home filled by `recip demo` and
synced to it, then the app in headless Chromium enrolled through its link and
synced: Today, a contact and Stats at phone size (390x844) and laptop size
(1280x800). Run from the repository root: `python scripts/screenshots.py`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SIZES: dict[str, ViewportSize] = {
    "phone": {"width": 390, "height": 844},
    "laptop": {"width": 1280, "height": 800},
}


def recip(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("recip serve did not start")


def shoot(page: Page, name: str) -> None:
    page.evaluate("() => { document.getElementById('flash').textContent = ''; }")
    page.mouse.move(0, 0)
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUT / f"{name}.png"))


def screens(url: str, token: str, contact: str) -> None:
    """Enroll the app at each size, let it sync, and take the three screens."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for size, viewport in SIZES.items():
            context = browser.new_context(viewport=viewport)
            page = context.new_page()
            page.goto(f"{url}/#enroll={token}")
            page.get_by_label("Device name").fill(size)
            page.get_by_role("button", name="Enroll this device").click()
            page.get_by_role("heading", name="Today", level=1).wait_for()
            page.get_by_role("region", name="Sync status").get_by_text("synced just now").wait_for()
            page.get_by_role("region", name="Reach out").get_by_role("listitem").first.wait_for()
            shoot(page, f"today-{size}")
            page.goto(f"{url}/#/contact/{contact}")
            page.get_by_role("heading", level=1).wait_for()
            shoot(page, f"contact-{size}")
            page.get_by_role("link", name="Stats").click()
            page.get_by_role("heading", name="Stats", level=1).wait_for()
            shoot(page, f"stats-{size}")
            context.close()
        browser.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        data, home = Path(scratch) / "server", Path(scratch) / "laptop"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # the laptop and the app at each size enroll with it
        added = recip("admin", "add-owner", "ada", "--data", str(data), "--url", url, "--uses", "3")
        token = added.splitlines()[-1]
        server = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--data", str(data), "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        device = ("--home", str(home))
        try:
            wait_healthy(url)
            recip(*device, "demo", "--contacts", "80", "--years", "2", "--seed", "7")
            recip(*device, "remote", "add", url, "--token", token, "--device-name", "laptop")
            recip(*device, "sync")
            stats = json.loads(recip(*device, "stats", "--json"))
            screens(url, token, stats["most_one_sided"][0]["contact_id"])
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
