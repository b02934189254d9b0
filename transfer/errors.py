"""The refusal of a file being imported, pointing at the line at fault."""

from __future__ import annotations

from core.errors import ValidationError


class FileRefused(ValidationError):
    """A file (or one line of it) cannot be imported; nothing of it was.

    The message names the file and the line, so that a person can open the file
    at that line and fix it.
    """

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        where = f"{source} line {line}" if line is not None else source
        super().__init__(f"{where}: {reason}; nothing was imported")
        self.source = source
        self.line = line
        self.reason = reason


def decode_text(data: bytes, source: str, encoding: str) -> str:
    """The text of a file, or a refusal at the line holding the first bad byte.

    A UTF-8 byte order mark (as Windows programs write) is dropped.
    """
    try:
        text = data.decode(encoding)
    except LookupError:
        raise FileRefused(source, None, f"unknown text encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileRefused(
            source,
            line,
            f"not valid {encoding} text ({exc.reason} at byte {exc.start}); "
            "give the file's encoding with --encoding (e.g. cp1252)",
        ) from None
    return text.removeprefix("\ufeff")
