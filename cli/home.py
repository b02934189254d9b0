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
from dataclasses import dataclass
from pathlib import Path

import msgspec

from core.errors import ReciprocityError
from core.ids import new_id
from core.log import EventLog
from core.state import State
from core.store import open_store


class DeviceConfig(msgspec.Struct, frozen=True):
    """Who this device is. Its id names its stream in every replica's log."""

    device_id: str
    name: str
    created_at: str


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
        self.path.mkdir(parents=True, exist_ok=True)
        device = DeviceConfig(
            device_id=new_id(), name=(name or os.uname().nodename).strip(), created_at=now_iso
        )
        if not device.name:
            raise HomeError("device name must not be empty")
        tmp = self.device_file.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(device)))
        os.replace(tmp, self.device_file)
        self.open_log().store.close()
        return device

    def device(self) -> DeviceConfig:
        if not self.initialised:
            raise HomeError(f"no Reciprocity home at {self.path}: run 'recip init' first")
        try:
            return msgspec.json.decode(self.device_file.read_bytes(), type=DeviceConfig)
        except (OSError, msgspec.DecodeError) as exc:
            raise HomeError(f"cannot read {self.device_file}: {exc}") from exc

    def open_log(self) -> EventLog:
        """The device's event log (opened with its own device id)."""
        device = self.device()
        return EventLog(open_store(str(self.log_path)), device.device_id)

    def state(self, log: EventLog) -> State:
        """The current state, folded from the whole log."""
        return State(log.events())
