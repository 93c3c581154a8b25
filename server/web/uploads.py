"""A server-side waiting room for uploaded files between preview and publish.

The bytes the designer previewed are the bytes that get published: the browser only sends
back a random id. Files live under ``DATA_DIR/uploads``, named by that id (never by the
client's file name), and belong to the user who uploaded them.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _

from server.errors import AppError

MAX_AGE_SECONDS = 24 * 3600
_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass(frozen=True)
class StagedUpload:
    upload_id: str
    filename: str
    content: bytes


def _folder(data_dir: str) -> Path:
    folder = Path(data_dir) / "uploads"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def stage(data_dir: str, filename: str, content: bytes, owner_id: int) -> str:
    """Keep ``content`` and return its id. ``filename`` is kept as data, not as a path."""
    folder = _folder(data_dir)
    _sweep(folder)
    upload_id = secrets.token_urlsafe(24)
    (folder / f"{upload_id}.bin").write_bytes(content)
    meta = {"filename": filename, "owner_id": owner_id}
    (folder / f"{upload_id}.json").write_text(json.dumps(meta), encoding="utf-8")
    return upload_id


def load(data_dir: str, upload_id: str, owner_id: int) -> StagedUpload:
    expired = AppError("request.invalid", _("This upload has expired. Upload the file again."))
    if not _ID.match(upload_id):
        raise expired
    folder = _folder(data_dir)
    try:
        meta = json.loads((folder / f"{upload_id}.json").read_text(encoding="utf-8"))
        content = (folder / f"{upload_id}.bin").read_bytes()
    except (OSError, ValueError) as exc:
        raise expired from exc
    if meta.get("owner_id") != owner_id:
        raise expired
    return StagedUpload(upload_id, str(meta.get("filename", "")), content)


def discard(data_dir: str, upload_id: str) -> None:
    if not _ID.match(upload_id):
        return
    folder = _folder(data_dir)
    for suffix in (".bin", ".json"):
        (folder / f"{upload_id}{suffix}").unlink(missing_ok=True)


def _sweep(folder: Path) -> None:
    """Forget uploads nobody published within a day."""
    cutoff = time.time() - MAX_AGE_SECONDS
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            continue
