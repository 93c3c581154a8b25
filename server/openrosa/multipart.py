"""A lean multipart/form-data reader for submission POSTs.

Werkzeug's streaming parser compiles two regular expressions for every boundary it meets,
and every request has a new boundary: about a third of the receipt's CPU time on a small
submission. A submission body is read whole anyway (the view keeps every part in memory),
so here it is split with ``bytes.find``. Anything this reader does not recognise returns
``None`` and the caller falls back to werkzeug, which knows every oddity.
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.http import parse_options_header

MAX_PARTS = 1000


@dataclass(frozen=True)
class FilePart:
    name: str
    filename: str
    mimetype: str  # without parameters, lower case (as werkzeug's FileStorage.mimetype)
    content: bytes


def parse_files(body: bytes, content_type: str) -> list[FilePart] | None:
    """The file parts (those with a ``filename``) of a multipart body, in order; ``None``
    if the body is not a well-formed CRLF multipart body with that boundary."""
    mimetype, options = parse_options_header(content_type)
    boundary = options.get("boundary")
    if mimetype.lower() != "multipart/form-data" or not boundary:
        return None
    dash = b"--" + boundary.encode("latin-1")
    separator = b"\r\n" + dash
    if body.startswith(dash):
        pos = len(dash)
    else:
        first = body.find(separator)
        if first < 0:
            return None
        pos = first + len(separator)
    parts: list[FilePart] = []
    while True:
        if body.startswith(b"--", pos):
            return parts  # the closing delimiter; the epilogue is ignored
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            return None
        start = line_end + 2
        end = body.find(separator, start)
        if end < 0 or len(parts) >= MAX_PARTS:
            return None
        head_end = body.find(b"\r\n\r\n", start - 2, end)
        if head_end < 0:
            return None
        try:
            part = _part(body[start:head_end], body[head_end + 4 : end])
        except _Unrecognised:
            return None
        if part is not None:
            parts.append(part)
        pos = end + len(separator)


class _Unrecognised(Exception):
    """A part this reader leaves to werkzeug."""


def _part(head: bytes, content: bytes) -> FilePart | None:
    """A file part; None for a plain field. Raises _Unrecognised for unknown headers."""
    disposition = ""
    content_type = ""
    for line in head.split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise _Unrecognised
        key = name.strip().lower()
        if key == b"content-disposition":
            disposition = value.strip().decode("utf-8", "replace")
        elif key == b"content-type":
            content_type = value.strip().decode("latin-1")
        elif key == b"content-transfer-encoding":
            raise _Unrecognised  # obsolete encodings: let werkzeug decide
    kind, options = parse_options_header(disposition)
    if kind.lower() != "form-data" or "name" not in options:
        raise _Unrecognised
    if "filename" not in options:
        return None
    mimetype = parse_options_header(content_type)[0].lower() if content_type else ""
    return FilePart(options["name"], options["filename"], mimetype, content)
