"""OpenRosa XML documents, built with ElementTree so every value is escaped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from xml.etree.ElementTree import Element, SubElement, tostring

from flask import Response

XFORMS_LIST_NS = "http://openrosa.org/xforms/xformsList"
MANIFEST_NS = "http://openrosa.org/xforms/xformsManifest"
RESPONSE_NS = "http://openrosa.org/http/response"
XML_TYPE = "text/xml; charset=utf-8"


def _document(root: Element) -> bytes:
    body: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def xml_response(root: Element, status: int = 200) -> Response:
    return Response(_document(root), status=status, content_type=XML_TYPE)


def openrosa_message(message: str, *, status: int, nature: str = "") -> Response:
    return Response(_message_document(message, nature), status=status, content_type=XML_TYPE)


@lru_cache(maxsize=256)
def _message_document(message: str, nature: str) -> bytes:
    # The same few answers go out with every submission: built once each.
    root = Element("OpenRosaResponse", {"xmlns": RESPONSE_NS, "items": "0"})
    SubElement(root, "message", {"nature": nature}).text = message
    return _document(root)


def created(message: str) -> Response:
    return openrosa_message(message, status=201, nature="submit_success")


@dataclass(frozen=True)
class FormListEntry:
    form_id: str
    name: str
    version: str
    md5: str
    download_url: str
    manifest_url: str | None


def form_list(entries: Iterable[FormListEntry]) -> Response:
    root = Element("xforms", {"xmlns": XFORMS_LIST_NS})
    for entry in entries:
        xform = SubElement(root, "xform")
        SubElement(xform, "formID").text = entry.form_id
        SubElement(xform, "name").text = entry.name or entry.form_id
        SubElement(xform, "version").text = entry.version
        SubElement(xform, "hash").text = f"md5:{entry.md5}"
        SubElement(xform, "downloadUrl").text = entry.download_url
        if entry.manifest_url:
            SubElement(xform, "manifestUrl").text = entry.manifest_url
    return xml_response(root)


@dataclass(frozen=True)
class ManifestEntry:
    filename: str
    hash: str  # md5 hex of the bytes, or an opaque version token for entity lists
    download_url: str
    type: str | None = None  # "entityList" for case lists
    integrity_url: str | None = None


def manifest(entries: Iterable[ManifestEntry]) -> Response:
    root = Element("manifest", {"xmlns": MANIFEST_NS})
    for entry in entries:
        attrs = {"type": entry.type} if entry.type else {}
        media = SubElement(root, "mediaFile", attrs)
        SubElement(media, "filename").text = entry.filename
        SubElement(media, "hash").text = f"md5:{entry.hash}"
        SubElement(media, "downloadUrl").text = entry.download_url
        if entry.integrity_url:
            SubElement(media, "integrityUrl").text = entry.integrity_url
    return xml_response(root)


def integrity(states: Iterable[tuple[str, bool]]) -> Response:
    root = Element("data")
    entities = SubElement(root, "entities")
    for entity_id, deleted in states:
        entity = SubElement(entities, "entity", {"id": entity_id})
        SubElement(entity, "deleted").text = "true" if deleted else "false"
    return xml_response(root)
