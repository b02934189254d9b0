"""A device's home directory: its identity and its event log.

Layout (all under one directory, so that a backup is a copy of it):

- `device.json`: this device's id and name (written once by `recip init`);
- `log.db`: the SQLite event log (eventsourcing tables) and the views beside it.

The home is found from `--home`, else `$RECIP_HOME`, else the per-user data
directory (platformdirs: `$XDG_DATA_HOME/reciprocity`, by default
`~/.local/share/reciprocity` on Linux, `~/Library/Application Support/reciprocity`
on macOS).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import msgspec
from eventsourcing.persistence import PersistenceError

from core.errors import ReciprocityError, StoreError
from core.files import private_dir, private_file
from core.ids import new_id
from core.log import EventLog
from core.state import State
from core.store import SQLITE_LAST_SEQ, open_store


class DeviceConfig(msgspec.Struct, frozen=True):
    """Who this device is. Its id names its stream in every replica's log.

    `last_seq` is the highest seq of its own this device's log held when a
    command last closed it: a log that holds less was emptied or replaced, and
    is refused instead of silently starting again at seq 1 (ADR 0080).
    """

    device_id: str
    name: str
    created_at: str
    last_seq: int = 0


class HomeError(ReciprocityError):
    """The home directory is missing, not initialised, or unreadable."""


def default_home() -> Path:
    """The per-user data directory (platformdirs: honours `$XDG_DATA_HOME` on Linux)."""
    import platformdirs

    return platformdirs.user_data_path("reciprocity", appauthor=False)


@dataclass
class Home:
    """One device's home directory."""

    path: Path

    @classmethod
    def locate(cls, option: str | None) -> Home:
        chosen = option or os.environ.get("RECIP_HOME")
        return cls(Path(chosen).expanduser() if chosen else default_home())

    @property
    def device_file(self) -> Path:
        return self.path / "device.json"

    @property
    def log_path(self) -> Path:
        return self.path / "log.db"

    @property
    def initialised(self) -> bool:
        return self.device_file.exists()

    def init(self, name: str | None, *, now_iso: str) -> DeviceConfig:
        """Create the home and this device's identity; refuses to do it twice."""
        if self.initialised:
            raise HomeError(f"{self.path} is already initialised (device {self.device().name})")
        device = DeviceConfig(
            device_id=new_id(), name=(name or os.uname().nodename).strip(), created_at=now_iso
        )
        if not device.name:
            raise HomeError("device name must not be empty")
        private_dir(self.path)
        self._write(device)
        self.open_log().store.close()
        return device

    def _write(self, device: DeviceConfig) -> None:
        """Replace `device.json` atomically (a temporary file per process: two commands
        closing at once must not move each other's file away)."""
        tmp = private_file(self.path / f".device.json.{os.getpid()}.tmp")
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(device)))
        os.replace(tmp, self.device_file)

    def device(self) -> DeviceConfig:
        if not self.initialised:
            raise HomeError(f"no Reciprocity home at {self.path}: run 'recip init' first")
        try:
            return msgspec.json.decode(self.device_file.read_bytes(), type=DeviceConfig)
        except (OSError, msgspec.DecodeError) as exc:
            raise HomeError(f"cannot read {self.device_file}: {exc}") from exc

    def open_log(self, *, restoring: bool = False) -> EventLog:
        """The device's event log (opened with its own device id), once it is known
        to be whole (`verify`). `restoring` (sync, import) opens a log that lost
        this device's events, to put them back; nothing else may use such a log."""
        device = self.device()
        if not restoring:
            self.verify(device)
        private_dir(self.path)
        private_file(self.log_path)
        try:
            return EventLog(open_store(str(self.log_path)), device.device_id)
        except (StoreError, PersistenceError, sqlite3.DatabaseError) as exc:
            raise self.damaged(exc) from None

    def close_log(self, log: EventLog) -> None:
        """Close the log, first recording in `device.json` how far this device's own
        stream reaches, so that an emptied or replaced log is noticed (`verify`)."""
        try:
            held = log.last_seq()
            device = self.device()
            if held > device.last_seq:
                self._write(msgspec.structs.replace(device, last_seq=held))
        finally:
            log.store.close()

    def verify(self, device: DeviceConfig | None = None) -> None:
        """Refuse a log that is unreadable, or that holds fewer of this device's own
        events than it has recorded (emptied, truncated, replaced by an older copy)."""
        device = device or self.device()
        held = self._held(device.device_id)
        if held < device.last_seq:
            raise HomeError(
                f"{self.log_path} holds this device's events only up to seq {held}, but it "
                f"recorded up to seq {device.last_seq} (device.json): the log was emptied or "
                "replaced. Nothing was changed. Put back a copy of log.db, or restore this "
                "device's events with 'recip import <export>' or 'recip sync' (or, to go on "
                "without them, 'recip doctor --accept-lost-events')"
            )

    def _held(self, device_id: str) -> int:
        """The highest seq of this device's own the log file holds (0: none, no file)."""
        if not self.log_path.exists():
            return 0
        try:
            conn = sqlite3.connect(f"{self.log_path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise self.damaged(exc) from None
        try:
            row = conn.execute(SQLITE_LAST_SEQ, (device_id,)).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0  # a new, empty database
            raise self.damaged(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self.damaged(exc) from None
        finally:
            conn.close()
        return int(row[0] or 0)

    def damaged(self, exc: BaseException) -> HomeError:
        """The one line a damaged log gets: what is wrong and what to do."""
        reason = str(exc.__cause__ or exc)
        if "locked" in reason or "busy" in reason:
            return HomeError(f"{self.log_path} is busy ({reason}): another process is writing")
        return HomeError(
            f"{self.log_path} is damaged ({reason}). Nothing was changed. Move it aside, then "
            "put back a copy of it, or restore this device's events with "
            "'recip import <export>' or 'recip sync'"
        )

    def accept_loss(self) -> tuple[int, int]:
        """Go on from what the log holds: (recorded, held) seqs before the reset."""
        device = self.device()
        held = self._held(device.device_id)
        if held < device.last_seq:
            self._write(msgspec.structs.replace(device, last_seq=held))
        return device.last_seq, held

    def state(self, log: EventLog) -> State:
        """The current state, folded from the whole log."""
        return State(log.events())
