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
    first = body.find(dash)
    if first < 0 or (first > 0 and body[first - 2 : first] != b"\r\n"):
        return None  # no delimiter, or one werkzeug may read after a bare LF or CR
    pos = first + len(dash)
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
        content = body[head_end + 4 : end]
        if dash in content:
            return None  # it may hold a delimiter after a bare line break, as werkzeug reads
        try:
            part = _part(body[start:head_end], content)
        except _Unrecognised:
            return None
        if part is not None:
            parts.append(part)
        pos = end + len(separator)


class _Unrecognised(Exception):
    """A part this reader leaves to werkzeug."""


def _part(head: bytes, content: bytes) -> FilePart | None:
    """A file part; None for a plain field. Raises _Unrecognised for what werkzeug would
    read otherwise: headers that are not UTF-8, folded or repeated, or unknown encodings."""
    try:
        text = head.decode("utf-8")  # as werkzeug reads part headers
    except UnicodeDecodeError:
        raise _Unrecognised from None
    headers: dict[str, str] = {}
    for line in text.split("\r\n"):
        if not line:
            continue
        if line[0] in " \t" or "\r" in line or "\n" in line:
            raise _Unrecognised  # a folded header or a bare line break
        name, sep, value = line.partition(":")
        key = name.strip(" \t").lower()
        if not sep or key in headers:
            raise _Unrecognised
        headers[key] = value.strip(" \t")
    if "content-transfer-encoding" in headers:
        raise _Unrecognised  # obsolete encodings: let werkzeug decide
    kind, options = parse_options_header(headers.get("content-disposition", ""))
    if kind.lower() != "form-data" or "name" not in options:
        raise _Unrecognised
    if "filename" not in options:
        return None
    content_type = headers.get("content-type", "")
    mimetype = parse_options_header(content_type)[0].lower() if content_type else ""
    return FilePart(options["name"], options["filename"], mimetype, content)
