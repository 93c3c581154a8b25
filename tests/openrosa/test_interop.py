"""One test per interoperability bug other servers shipped (protocol notes §9)."""

from __future__ import annotations

import hashlib
import uuid
import xml.etree.ElementTree as ET

import pytest

from tests.factories import SIMPLE_FORM, DeviceClient, Factory, approve_all, bearer, submission_xml
from tests.realforms import contact_log, new_case_plan, xlsform_bytes

LIST = {"x": "http://openrosa.org/xforms/xformsList"}
MAN = {"m": "http://openrosa.org/xforms/xformsManifest"}

MEDIA_FORM = """
| settings |
| | form_id | version |
| | with_media | 3 |
| survey |
| | type | name | label | media::image |
| | note | intro | Welcome | logo.png |
"""

NO_VERSION_FORM = """
| settings |
| | form_id |
| | unversioned |
| survey |
| | type | name | label |
| | text | q | Q |
"""


@pytest.fixture
def case_forms(make: Factory) -> None:
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")


def _entries(response) -> dict[str, ET.Element]:
    return {
        e.findtext("x:formID", namespaces=LIST): e
        for e in ET.fromstring(response.data).findall("x:xform", LIST)
    }


def test_1_form_hash_has_md5_prefix_and_matches_served_bytes(make, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    entry = _entries(device.get("/formList"))["simple"]
    body = device.get("/forms/simple.xml").data
    assert entry.findtext("x:hash", namespaces=LIST) == "md5:" + hashlib.md5(body).hexdigest()
    # the same bytes every time, so Collect never sees a phantom update
    assert device.get("/forms/simple.xml").data == body


def test_2_manifest_media_hash_has_md5_prefix_of_file_bytes(make, device: DeviceClient):
    make.publish_md(MEDIA_FORM, media={"logo.png": b"logo"})
    media = ET.fromstring(device.get("/forms/with_media/manifest").data).find("m:mediaFile", MAN)
    assert media.findtext("m:hash", namespaces=MAN) == "md5:" + hashlib.md5(b"logo").hexdigest()


@pytest.mark.parametrize(
    "path", ["/formList", "/forms/with_media/manifest", "/datasets/cases/integrity?id=x"]
)
def test_3_openrosa_version_header_on_lists(make, device: DeviceClient, path: str):
    make.publish_md(MEDIA_FORM, media={"logo.png": b"logo"})
    assert device.get(path).headers["X-OpenRosa-Version"] == "1.0"


@pytest.mark.parametrize(
    "path", ["/formList", "/forms/with_media/manifest", "/datasets/cases/integrity?id=x"]
)
def test_4_lists_are_text_xml(make, device: DeviceClient, path: str):
    make.publish_md(MEDIA_FORM, media={"logo.png": b"logo"})
    assert device.get(path).headers["Content-Type"] == "text/xml; charset=utf-8"


def test_5_head_submission_is_204_not_200(device: DeviceClient):
    response = device.head("/submission")
    assert response.status_code == 204
    assert response.headers["X-OpenRosa-Accept-Content-Length"]


def test_6_success_is_201_not_200(make, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    assert device.submit(submission_xml()).status_code == 201


def test_7_split_submission_is_one_record_with_every_file(make, device, db_session):
    from sqlalchemy import select

    from server.submissions.models import Submission

    make.publish_md(SIMPLE_FORM)
    xml = submission_xml(body="<note_text>x</note_text><photo>a.jpg</photo>")
    assert device.submit(xml, {"audit.csv": b"a"}, incomplete=True).status_code == 201
    assert device.submit(xml, {"a.jpg": b"b"}).status_code == 201
    (stored,) = db_session.scalars(select(Submission)).all()
    assert {a.name for a in stored.attachments if a.blob_sha256} == {"a.jpg", "audit.csv"}


def test_8_identical_resend_succeeds_without_duplicating(make, device, db_session):
    from sqlalchemy import func, select

    from server.submissions.models import Submission

    make.publish_md(SIMPLE_FORM)
    xml = submission_xml()
    assert [device.submit(xml).status_code for _ in range(3)] == [201, 201, 201]
    assert db_session.scalar(select(func.count()).select_from(Submission)) == 1


def test_9_401_always_carries_a_usable_challenge(client):
    response = client.get("/formList", headers={"X-OpenRosa-Version": "1.0"})
    assert response.status_code == 401
    (challenge,) = response.headers.get_all("WWW-Authenticate")
    assert challenge.startswith("Digest ")  # never only Basic over plain HTTP


def test_10_date_header_is_never_parsed(make, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    odd = {"Date": "Dim, 22 Nov 2026 03:15:00 GMT+03:00 nonsense"}
    assert device.get("/formList", headers=odd).status_code == 200
    response = device.client.post(
        f"/key/{device.token}/submission",
        data={"xml_submission_file": (__import__("io").BytesIO(submission_xml()), "x.xml")},
        headers={"X-OpenRosa-Version": "1.0", **odd},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201


def test_11_urls_are_absolute_from_the_public_base_url(make, device: DeviceClient):
    make.publish_md(MEDIA_FORM, media={"logo.png": b"logo"})
    entry = _entries(device.get("/formList", headers={"Host": "internal:9999"}))["with_media"]
    for tag in ("downloadUrl", "manifestUrl"):
        assert entry.findtext(f"x:{tag}", namespaces=LIST).startswith("http://localhost/key/")


def test_12_advertised_size_is_accepted(app, device: DeviceClient):
    advertised = int(device.head("/submission").headers["X-OpenRosa-Accept-Content-Length"])
    assert app.config["MAX_CONTENT_LENGTH"] >= advertised


def test_13_version_element_is_always_present(make, device: DeviceClient):
    make.publish_md(NO_VERSION_FORM)
    entry = _entries(device.get("/formList"))["unversioned"]
    assert entry.find("x:version", LIST) is not None
    assert entry.findtext("x:version", namespaces=LIST) == ""


def test_14_entity_list_shape_type_integrity_and_changing_hash(case_forms, device, make, client):
    manifest = ET.fromstring(device.get("/forms/contact_log/manifest").data)
    cases = next(
        m
        for m in manifest.findall("m:mediaFile", MAN)
        if m.findtext("m:filename", namespaces=MAN) == "cases.csv"
    )
    assert cases.get("type") == "entityList"
    assert cases.findtext("m:integrityUrl", namespaces=MAN).endswith("/datasets/cases/integrity")
    empty_hash = cases.findtext("m:hash", namespaces=MAN)
    header = device.get("/forms/contact_log/attachments/cases.csv").get_data(as_text=True)
    assert header.splitlines()[0].startswith("name,label,__version")

    plan, entity_id = new_case_plan("CP-HASH-1")
    assert device.submit(plan).status_code == 201

    def current_hash() -> str:
        doc = ET.fromstring(device.get("/forms/contact_log/manifest").data)
        return next(
            m.findtext("m:hash", namespaces=MAN)
            for m in doc.findall("m:mediaFile", MAN)
            if m.findtext("m:filename", namespaces=MAN) == "cases.csv"
        )

    with_case = current_hash()
    assert with_case != empty_hash
    assert with_case.startswith("md5:")
    closing = contact_log(
        "CP-HASH-1", entity_id, base_version=1, close="yes", contact_time="2026-11-24T10:00:00.000Z"
    )
    assert device.submit(closing).status_code == 201
    assert current_hash() != with_case  # the case shows its closure pending approval
    make.user("sup-hash", "supervisor", team="north")
    assert approve_all(client, "CP-HASH-1", bearer(make.api_token("sup-hash"))) == 2
    # a row left the list; the token follows the content (empty again, as at the start)
    assert current_hash() != with_case
    states = device.get(f"/datasets/cases/integrity?id={entity_id},{uuid.uuid4()}").data
    assert states.count(b"<deleted>") == 1 or b"<deleted>false</deleted>" in states
    assert b"<deleted>true</deleted>" in states


def test_15_non_ascii_attachment_names_are_kept(make, device, db_session):
    from sqlalchemy import select

    from server.submissions.models import SubmissionAttachment

    make.publish_md(SIMPLE_FORM)
    xml = submission_xml(body="<note_text>x</note_text><photo>صورة.jpg</photo>")
    assert device.submit(xml, {"صورة.jpg": b"img"}).status_code == 201
    row = db_session.scalar(select(SubmissionAttachment))
    assert row.name == "صورة.jpg"
    assert row.blob_sha256


def test_16_stale_deprecated_id_is_a_clean_409(make, device: DeviceClient):
    make.publish_md(SIMPLE_FORM)
    first = f"uuid:{uuid.uuid4()}"
    assert device.submit(submission_xml(instance_id=first)).status_code == 201
    assert device.submit(submission_xml(deprecated_id=first)).status_code == 201
    stale = device.submit(submission_xml(deprecated_id=first))
    assert stale.status_code == 409
    assert b"<OpenRosaResponse" in stale.data
    assert b"latest version" in stale.data
