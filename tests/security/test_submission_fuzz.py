"""A bounded, seeded fuzz of the submission endpoint: thousands of mutated requests (broken
XML, odd attributes, wrong namespaces, deep nesting, broken multipart bodies and headers,
missing parts, reused instanceIDs) mixed with valid submissions from real forms.

Whatever arrives, the server answers it (never a 5xx), and every valid submission in the mix
is stored exactly once, byte for byte, and merged into its case.

Deterministic: the same seed sends the same requests. CASEWORK_FUZZ_REQUESTS and
CASEWORK_FUZZ_SEED run a heavier or another variant (the default keeps to well under a
minute on SQLite; 2000 or more before a release).
"""

from __future__ import annotations

import os
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select

from server import db
from server.cases.models import CaseContribution
from server.submissions.models import Submission
from tests.factories import DeviceClient
from tests.realforms import contact_log, new_case_plan

REQUESTS = int(os.environ.get("CASEWORK_FUZZ_REQUESTS", "600"))
SEED = int(os.environ.get("CASEWORK_FUZZ_SEED", "20261206"))
VALID_EVERY = 8  # about one request in eight is a valid submission


@dataclass(frozen=True)
class Request:
    kind: str  # what was done to it, for the failure message
    body: bytes
    headers: dict[str, str]


def _multipart(
    xml: bytes | None,
    files: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
    *,
    boundary: str | None = None,
    xml_name: str = "xml_submission_file",
) -> tuple[bytes, str]:
    boundary = boundary or uuid.uuid4().hex
    out = bytearray()
    parts = ([(xml_name, xml, "text/xml")] if xml is not None else []) + [
        (name, content, "application/octet-stream") for name, content in files
    ]
    for name, content, mimetype in parts:
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"; filename="{name}"\r\n'.encode()
        out += f"Content-Type: {mimetype}\r\n\r\n".encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _request(kind: str, xml: bytes | None, files: list[tuple[str, bytes]] = ()) -> Request:  # type: ignore[assignment]
    body, content_type = _multipart(xml, files)
    return Request(kind, body, {"Content-Type": content_type, "X-OpenRosa-Version": "1.0"})


class Mutator:
    """Requests derived from a valid submission, each with an instanceID of its own (so
    that no mutant can take a valid submission's id before it arrives)."""

    def __init__(self, rng: random.Random, sent: list[bytes]) -> None:
        self.rng = rng
        self.sent = sent  # valid submissions already sent: their ids may be reused
        self.mutations: list[Callable[[bytes], Request]] = [
            self.truncated,
            self.byte_flips,
            self.huge_attribute,
            self.odd_attributes,
            self.wrong_namespace,
            self.deep_nesting,
            self.bad_boundary,
            self.bad_headers,
            self.missing_part,
            self.reused_instance_id,
            self.two_xml_parts,
            self.odd_file_names,
            self.entities,
            self.odd_encoding,
            self.odd_meta,
            self.unknown_form,
            self.many_repeats,
        ]

    def __call__(self, xml: bytes) -> Request:
        return self.rng.choice(self.mutations)(xml)

    def truncated(self, xml: bytes) -> Request:
        return _request("truncated", xml[: self.rng.randrange(len(xml))])

    def byte_flips(self, xml: bytes) -> Request:
        data = bytearray(xml)
        for _ in range(self.rng.randint(1, 8)):
            data[self.rng.randrange(len(data))] = self.rng.randrange(256)
        return _request("byte flips", bytes(data))

    def huge_attribute(self, xml: bytes) -> Request:
        size = self.rng.choice([10_000, 300_000, 2_000_000])
        return _request(
            "huge attribute", xml.replace(b"<data ", b'<data x="' + b"A" * size + b'" ', 1)
        )

    def odd_attributes(self, xml: bytes) -> Request:
        odd = self.rng.choice(
            [b' id=""', b' version="\xff\xfe"', b' id="a" id="b"', b' \x01="1"', b' xmlns=""']
        )
        return _request("odd attributes", xml.replace(b"<data ", b"<data" + odd + b" ", 1))

    def wrong_namespace(self, xml: bytes) -> Request:
        ns = self.rng.choice([b"http://example.org/evil", b"", b"urn:x", b"\xc3\xa9"])
        replaced = xml.replace(b'xmlns="http://www.w3.org/2002/xforms"', b'xmlns="' + ns + b'"')
        if self.rng.random() < 0.5:
            replaced = replaced.replace(b"<meta>", b'<meta xmlns="urn:other">')
        return _request("wrong namespace", replaced)

    def deep_nesting(self, xml: bytes) -> Request:
        depth = self.rng.choice([200, 5_000, 100_000])
        nest = b"<a>" * depth + b"x" + b"</a>" * depth
        at = xml.index(b"<meta>")
        return _request("deep nesting", xml[:at] + nest + xml[at:])

    def bad_boundary(self, xml: bytes) -> Request:
        body, content_type = _multipart(xml)
        choice = self.rng.randrange(4)
        if choice == 0:
            content_type = "multipart/form-data; boundary=not-the-one"
        elif choice == 1:
            content_type = "multipart/form-data"
        elif choice == 2:
            body = body[: self.rng.randrange(len(body))]
        else:
            content_type = "multipart/form-data; boundary=" + "x" * 5000
        return Request(
            "bad boundary", body, {"Content-Type": content_type, "X-OpenRosa-Version": "1.0"}
        )

    def bad_headers(self, xml: bytes) -> Request:
        body, content_type = _multipart(xml)
        headers = {"Content-Type": content_type, "X-OpenRosa-Version": "1.0"}
        choice = self.rng.randrange(5)
        if choice == 0:
            del headers["X-OpenRosa-Version"]
        elif choice == 1:
            headers["Content-Encoding"] = "gzip"
        elif choice == 2:
            headers["Content-Type"] = self.rng.choice(
                ["text/xml", "application/json", "multipart/mixed; boundary=x", "\x00"]
            )
        elif choice == 3:
            headers["X-OpenRosa-Version"] = "2.0"
        else:
            headers["Content-Type"] = content_type + '; charset="\xff"'
        return Request("bad headers", body, headers)

    def missing_part(self, xml: bytes) -> Request:
        if self.rng.random() < 0.5:
            return _request("no xml part", None, [("photo.jpg", b"\xff\xd8")])
        return _request("xml under another name", None, [("xml_submission", xml)])

    def reused_instance_id(self, xml: bytes) -> Request:
        if not self.sent:
            return self.truncated(xml)
        original = self.rng.choice(self.sent)
        if self.rng.random() < 0.3:
            return _request("identical resend", original)  # 201, changes nothing
        changed = original.replace(b"</data>", b"<extra>x</extra></data>")
        return _request("changed XML, same instanceID", changed)

    def two_xml_parts(self, xml: bytes) -> Request:
        body, content_type = _multipart(xml, [("xml_submission_file", xml + b" ")])
        return Request(
            "two xml parts", body, {"Content-Type": content_type, "X-OpenRosa-Version": "1.0"}
        )

    def odd_file_names(self, xml: bytes) -> Request:
        name = self.rng.choice(["", "a\x00b", "x" * 300, "../../etc/passwd", "é%22\r\n.jpg", "  "])
        return _request("odd file names", xml, [(name, b"content")])

    def entities(self, xml: bytes) -> Request:
        dtd = self.rng.choice(
            [
                b'<!DOCTYPE data [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
                b'<!DOCTYPE data [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>',
                b'<!DOCTYPE data SYSTEM "http://127.0.0.1:1/x.dtd">',
            ]
        )
        at = xml.index(b"<data")
        return _request("entities", xml[:at] + dtd + xml[at:].replace(b"</data>", b"&e;</data>"))

    def odd_encoding(self, xml: bytes) -> Request:
        choice = self.rng.randrange(4)
        if choice == 0:
            return _request(
                "utf-16", xml.decode().replace("<?xml version='1.0' ?>", "").encode("utf-16")
            )
        if choice == 1:
            return _request(
                "latin-1 declared",
                xml.replace(b"<?xml version='1.0' ?>", b'<?xml version="1.0" encoding="latin-1"?>')
                + b"\xe9",
            )
        if choice == 2:
            return _request("bom", b"\xef\xbb\xbf" + xml)
        return _request("nul bytes", xml.replace(b"<meta>", b"<meta>\x00"))

    def odd_meta(self, xml: bytes) -> Request:
        start, end = xml.index(b"<instanceID>"), xml.index(b"</instanceID>")
        value = self.rng.choice(
            [
                b"",
                b"uuid:" + b"x" * 400,
                b"\x00",
                b"uuid:<x/>",
                b"  uuid:spaced  ",
                b"uuid:\xf0\x9f\x92\xa9",
            ]
        )
        return _request("odd instanceID", xml[: start + 12] + value + xml[end:])

    def unknown_form(self, xml: bytes) -> Request:
        form = self.rng.choice([b'id="nope"', b'id="case_plan" version="0"', b'id=""'])
        return _request(
            "unknown form",
            xml.replace(b'id="case_plan"', form, 1).replace(b'id="contact_log"', form, 1),
        )

    def many_repeats(self, xml: bytes) -> Request:
        repeat = b"<needs><need_category>x</need_category></needs>" * self.rng.choice([100, 5_000])
        at = xml.index(b"<meta>")
        return _request("many repeats", xml[:at] + repeat + xml[at:])


@pytest.mark.slow
def test_fuzzed_submissions_never_get_a_5xx_and_valid_ones_are_merged_once(
    app: Flask, published: None, device: DeviceClient
):
    rng = random.Random(SEED)
    url = f"{device.prefix}/submission?deviceID=collect%3Afuzz"
    client = device.client
    valid: dict[str, bytes] = {}  # instance id -> XML
    entities: dict[str, str] = {}  # case ref -> entity id
    sent: list[bytes] = []
    mutate = Mutator(rng, sent)
    failures: list[str] = []
    answers: Counter[tuple[str, int]] = Counter()

    def new_valid() -> tuple[str, bytes]:
        if entities and rng.random() < 0.3:
            ref = rng.choice(sorted(entities))
            iid = f"uuid:{uuid.UUID(int=rng.getrandbits(128))}"
            minute = len(valid) % 60
            return iid, contact_log(
                ref,
                entities[ref],
                base_version=1,
                contact_time=f"2026-11-24T10:{minute:02d}:00.000Z",
                instance_id=iid,
            )
        ref = f"CP-FUZZ-{len(entities)}"
        entity_id = str(uuid.UUID(int=rng.getrandbits(128)))
        iid = f"uuid:{uuid.UUID(int=rng.getrandbits(128))}"
        xml, _ = new_case_plan(ref, entity_id, instance_id=iid)
        entities[ref] = entity_id
        return iid, xml

    template = new_case_plan("CP-TEMPLATE-1", instance_id="uuid:template")[0]
    for n in range(REQUESTS):
        if n % VALID_EVERY == 0:
            iid, xml = new_valid()
            request = _request("valid", xml)
        else:
            own_id = f"uuid:{uuid.UUID(int=rng.getrandbits(128))}".encode()
            request = mutate(template.replace(b"uuid:template", own_id))
        try:
            response = client.post(url, data=request.body, headers=request.headers)
            status = response.status_code
        except Exception as exc:  # the test client raises what would have been a 500
            failures.append(f"#{n} {request.kind}: {type(exc).__name__}: {exc}"[:300])
            continue
        answers[request.kind, status] += 1
        if status >= 500:
            failures.append(f"#{n} {request.kind}: {status} {response.data[:200]!r}")
        elif request.kind == "valid":
            if status != 201:
                failures.append(f"#{n} valid submission answered {status}: {response.data[:200]!r}")
            valid[iid] = xml
            sent.append(xml)
    assert failures == []
    print(sorted(answers.items()))  # what was sent and answered (shown with -s)
    # every kind of request was sent, and the broken ones were refused
    assert {kind for kind, _ in answers} >= {"valid", "truncated", "deep nesting", "entities"}
    assert sum(n for (kind, status), n in answers.items() if 400 <= status < 500) > REQUESTS / 2

    with app.app_context():
        session = db.session()
        rows = session.execute(
            select(Submission.instance_id, Submission.xml, Submission.processing_state).where(
                Submission.instance_id.in_(valid)
            )
        ).all()
        merged = set(
            session.scalars(
                select(Submission.instance_id)
                .join(CaseContribution, CaseContribution.submission_id == Submission.id)
                .where(Submission.instance_id.in_(valid))
            )
        )
    assert sorted(r.instance_id for r in rows) == sorted(valid)  # each stored once
    assert all(r.xml == valid[r.instance_id] for r in rows)  # byte for byte
    assert {r.processing_state for r in rows} == {"applied"}  # and merged
    assert merged == set(valid)
