"""Commands of the `recip` CLI: replay."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add this module's commands to the `recip` group."""
