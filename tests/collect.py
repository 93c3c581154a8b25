"""What ODK Collect does, for tests: fill a form's primary instance and speak OpenRosa over
real HTTP (HEAD then multipart POST, split posts, deviceID on every URL)."""

from __future__ import annotations

import copy
import functools
import http.client
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

XF = "{http://www.w3.org/2002/xforms}"
JR_TEMPLATE = "{http://openrosa.org/javarosa}template"


def fill_instance(
    xform_xml: str,
    answers: dict[str, Any],
    *,
    instance_id: str | None = None,
    deprecated_id: str | None = None,
    entity: dict[str, str] | None = None,
) -> bytes:
    """The submission Collect would send: the primary instance with answers filled in.

    ``answers`` mirrors the instance: nested dicts for groups, lists of dicts for repeats.
    Answers not given stay empty elements, as Collect writes unanswered relevant questions.
    """
    data = copy.deepcopy(_blank_instance(xform_xml))
    _fill(data, answers)
    meta = data.find(f"{XF}meta")
    assert meta is not None
    meta.find(f"{XF}instanceID").text = instance_id or f"uuid:{uuid.uuid4()}"  # type: ignore[union-attr]
    if deprecated_id:
        ET.SubElement(meta, f"{XF}deprecatedID").text = deprecated_id
    entity_el = meta.find(f"{XF}entity")
    if entity_el is not None:
        for key, value in (entity or {}).items():
            if key == "label":
                label = entity_el.find(f"{XF}label")
                if label is not None:
                    label.text = value
            else:
                entity_el.set(key, value)
    ET.register_namespace("", XF[1:-1])
    ET.register_namespace("orx", "http://openrosa.org/xforms")
    ET.register_namespace("jr", "http://openrosa.org/javarosa")
    return b"<?xml version='1.0' ?>" + ET.tostring(data, encoding="utf-8")


@functools.lru_cache(maxsize=64)
def _blank_instance(xform_xml: str) -> ET.Element:
    """The form's primary instance as pyxform wrote it, parsed once per form: parsing the
    whole form for every filled instance cost more than the server spent storing it."""
    root = ET.fromstring(xform_xml)
    model = root.find(f"{{http://www.w3.org/1999/xhtml}}head/{XF}model")
    assert model is not None
    return model.find(f"{XF}instance")[0]  # type: ignore[index]


def _fill(element: ET.Element, answers: dict[str, Any]) -> None:
    children = list(element)
    seen: set[str] = set()
    for child in children:
        name = child.tag.split("}")[-1]
        if child.get(JR_TEMPLATE) is not None:
            element.remove(child)  # Collect never sends the repeat template
            continue
        if name in seen:
            element.remove(child)  # pyxform's first repeat instance: rebuilt from the answers
            continue
        seen.add(name)
        value = answers.get(name)
        if isinstance(value, list):
            position = list(element).index(child)
            element.remove(child)
            for offset, item in enumerate(value):
                clone = copy.deepcopy(child)
                _fill(clone, item)
                element.insert(position + offset, clone)
        elif isinstance(value, dict):
            _fill(child, value)
        elif value is not None:
            child.text = str(value)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class CollectClient:
    """Requests as Collect makes them (protocol notes §1, §4)."""

    server_url: str  # the project's server URL, e.g. http://127.0.0.1:8080/key/<token>
    device_id: str = "collect:AbCdEfGh12345678"
    user_agent: str = "org.odk.collect.android/v2026.3.3 Dalvik/2.1.0 (Linux; U; Android 14)"
    sent: list[str] = field(default_factory=list)

    def _request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        parts = urlsplit(url)
        query = parts.query + ("&" if parts.query else "") + urlencode({"deviceID": self.device_id})
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        all_headers = {
            "User-Agent": self.user_agent,
            "X-OpenRosa-Version": "1.0",
            # Collect's 12-hour clock with no AM/PM: the server must not parse it
            "Date": "Sun, 22 Nov 2026 03:15:00 GMT",
            "Accept-Encoding": "gzip",
        }
        all_headers.update(headers or {})
        conn.request(method, f"{parts.path}?{query}", body=body, headers=all_headers)
        raw = conn.getresponse()
        response = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read())
        conn.close()
        self.sent.append(f"{method} {parts.path}")
        return response

    def get(self, url: str) -> Response:
        return self._request("GET", url)

    def form_list(self) -> Response:
        return self.get(self.server_url.rstrip("/") + "/formList")

    def submit(self, xml: bytes, files: dict[str, bytes] | None = None) -> list[Response]:
        """HEAD, then one or more POSTs split at the server's advertised size."""
        url = self.server_url.rstrip("/") + "/submission"
        head = self._request("HEAD", url)
        if head.status != 204:
            return [head]
        limit = int(head.headers.get("x-openrosa-accept-content-length", "10000000"))
        batches: list[list[tuple[str, bytes]]] = [[]]
        size = len(xml)
        for name, content in (files or {}).items():
            if batches[-1] and size + len(content) > limit:
                batches.append([])
                size = len(xml)
            batches[-1].append((name, content))
            size += len(content)
        responses = []
        for index, batch in enumerate(batches):
            last = index == len(batches) - 1
            body, content_type = multipart(xml, batch, incomplete=not last)
            response = self._request("POST", url, body, {"Content-Type": content_type})
            responses.append(response)
            if response.status not in (201, 202):
                break
        return responses


def multipart(xml: bytes, files: list[tuple[str, bytes]], *, incomplete: bool) -> tuple[bytes, str]:
    """The body OkHttp writes: raw UTF-8 names, no per-part Content-Length."""
    boundary = str(uuid.uuid4())
    out = bytearray()

    def part(headers: str, content: bytes) -> None:
        out.extend(f"--{boundary}\r\n{headers}\r\n\r\n".encode())
        out.extend(content)
        out.extend(b"\r\n")

    part(
        'Content-Disposition: form-data; name="xml_submission_file"; '
        'filename="Case plan_2026-11-22_10-00-00.xml"\r\nContent-Type: text/xml',
        xml,
    )
    for name, content in files:
        escaped = name.replace('"', "%22")
        part(
            f'Content-Disposition: form-data; name="{escaped}"; filename="{escaped}"\r\n'
            "Content-Type: application/octet-stream",
            content,
        )
    if incomplete:
        part('Content-Disposition: form-data; name="*isIncomplete*"', b"yes")
    out.extend(f"--{boundary}--\r\n".encode())
    return bytes(out), f"multipart/form-data; boundary={boundary}"
