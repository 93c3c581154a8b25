"""The one way the server reads untrusted XML: defusedxml, no DTDs at all."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from server.errors import AppError

NS = {
    "xf": "http://www.w3.org/2002/xforms",
    "h": "http://www.w3.org/1999/xhtml",
    "jr": "http://openrosa.org/javarosa",
    "orx": "http://openrosa.org/xforms",
    "odk": "http://www.opendatakit.org/xforms",
    "entities": "http://www.opendatakit.org/xforms/entities",
    "casework": "urn:casework:xforms",
}

# Far deeper than any form's groups and repeats, and far shallower than Python's recursion
# limit, which the readers of a parsed tree (and the JSON encoder) walk into.
MAX_DEPTH = 100


def parse_untrusted(data: bytes, *, malformed: str, forbidden: str) -> Element:
    """Parse bytes from outside; DOCTYPEs (and so XXE and entity bombs) are refused outright."""
    try:
        root: Element = SafeET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise AppError(forbidden) from exc
    except (ParseError, ValueError) as exc:
        raise AppError(malformed, details={"reason": str(exc)}) from exc
    except LookupError as exc:  # the declaration names an encoding Python does not know
        raise AppError(
            malformed,
            "The XML declares a character encoding the server does not know; send UTF-8.",
            details={"reason": str(exc)},
        ) from exc
    if _deeper_than(root, MAX_DEPTH):
        raise AppError(
            malformed,
            f"The XML is nested more than {MAX_DEPTH} elements deep; the server does not read it.",
            details={"reason": "too deep"},
        )
    return root


def _deeper_than(root: Element, limit: int) -> bool:
    level: list[Element] = [root]
    for _ in range(limit):
        level = [child for el in level for child in el]
        if not level:
            return False
    return True


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def qname(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"
