"""Media ZIP: every attachment of an export, in one folder per submission. Pure.

File names come from devices and are never trusted: directories are stripped, and names
that are empty, ``.``/``..``, or made of control characters are replaced.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from typing import IO

from exports.writers.base import Writer

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RESERVED = re.compile(r'[<>:"|?*]')
MAX_NAME = 200


def safe_folder(instance_id: str) -> str:
    """A submission's folder: its instanceID with ``:`` as ``-`` (``uuid-…``), made safe."""
    return safe_name(instance_id.replace(":", "-"), fallback="submission")


def safe_name(name: str, fallback: str = "attachment") -> str:
    """A file name safe to unpack anywhere: the last path component, no control characters,
    no Windows-reserved characters, never ``.`` or ``..``; non-ASCII letters are kept."""
    name = unicodedata.normalize("NFC", name)
    name = _CONTROL.sub("", name)
    name = re.split(r"[/\\]", name)[-1]
    name = _RESERVED.sub("_", name).strip().strip(".")
    if not name or name in (".", ".."):
        return fallback
    if len(name) > MAX_NAME:
        _stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 10 else ""
        name = name[: MAX_NAME - len(keep) - 1] + ("." + keep if keep else "")
    return name


class MediaZipWriter(Writer):
    """Context manager adding attachments to a ZIP one at a time, as they are loaded."""

    def __init__(self, fh: IO[bytes]) -> None:
        # Photos and videos are compressed already: store them, don't spend CPU on deflate.
        self._zip = zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED)
        self._used: set[str] = set()
        self.count = 0

    def close(self) -> None:
        self._zip.close()

    def add(self, instance_id: str, name: str, content: bytes) -> str:
        """Store one attachment; return the path it got inside the ZIP."""
        folder = safe_folder(instance_id)
        base = safe_name(name, fallback=f"attachment-{self.count + 1}")
        path = f"{folder}/{base}"
        n = 1
        while path.lower() in self._used:
            n += 1
            stem, dot, ext = base.rpartition(".")
            path = f"{folder}/{stem} ({n}).{ext}" if dot and stem else f"{folder}/{base} ({n})"
        self._used.add(path.lower())
        with self._zip.open(path, "w", force_zip64=True) as out:
            out.write(content)
        self.count += 1
        return path
