"""Content-Disposition headers that every client can read, whatever the file is called."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from werkzeug.datastructures import Headers


def set_attachment(headers: Headers, filename: str) -> None:
    """``attachment`` with the file's name. A plain ASCII name goes as it is; any other name
    goes as an ASCII stand-in plus the exact name encoded as RFC 6266 ``filename*``, because
    a header must be Latin-1 (gunicorn refuses to send one that is not: a 500)."""
    if filename.isascii() and filename.isprintable():
        headers.set("Content-Disposition", "attachment", filename=filename)
        return
    simple = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    simple = "".join(ch for ch in simple if ch.isprintable()).strip() or "download"
    exact = "UTF-8''" + quote(filename, safe="!#$&+-.^_`|~")  # RFC 5987 attr-char
    headers.set("Content-Disposition", "attachment", filename=simple, **{"filename*": exact})
