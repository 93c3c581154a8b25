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


def parse_untrusted(data: bytes, *, malformed: str, forbidden: str) -> Element:
    """Parse bytes from outside; DOCTYPEs (and so XXE and entity bombs) are refused outright."""
    try:
        root: Element = SafeET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise AppError(forbidden) from exc
    except (ParseError, ValueError, UnicodeDecodeError) as exc:
        raise AppError(malformed, details={"reason": str(exc)}) from exc
    return root


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def qname(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"
