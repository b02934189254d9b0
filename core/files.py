"""Directories and files readable by their owner alone, whatever the umask (ADR 0080).

A device home and a server's data directory hold a person's whole relationship
history and device tokens. They are created 0700 (directories) and 0600 (files),
and tightened to that whenever they are opened, so that a home made by an older
build, or copied with a loose umask, is closed up on its next use. SQLite gives
a database's `-wal` and `-shm` files the mode of the database file itself, so a
database file created here (`private_file`) before SQLite opens it keeps its
companions private too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Final

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) if needed; make it and its direct files private."""
    path.mkdir(parents=True, exist_ok=True)
    tighten(path)
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                tighten(Path(entry.path))
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if it does not exist; make it readable by its owner alone."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    tighten(path)
    return path


def tighten(path: Path) -> None:
    """Take every permission from group and others (not ours to change: left alone)."""
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)
        wanted = DIR_MODE if path.is_dir() else FILE_MODE
        if mode & 0o077 or mode & wanted != wanted:
            path.chmod(wanted)
