"""The manifest hash of every ordinary media file is the MD5 of the bytes its downloadUrl
serves to that phone (protocol notes §3.3): otherwise Collect downloads the file again
at every update and shows the form as changed. Checked with the real forms, for the
phone of each role, whose lists differ."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from server import create_app
from server.auth.models import User
from server.cases import list_cache
from server.db import get_database
from server.services.service import create_service
from tests.conftest import app_config
from tests.factories import DeviceClient, Factory
from tests.realforms import contact_log, new_case_plan

MAN = "{http://openrosa.org/xforms/xformsManifest}"
LIST = "{http://openrosa.org/xforms/xformsList}"


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.hostname == "localhost", url
    return parts.path


def _manifest_files(phone: DeviceClient) -> list[tuple[str, str, str, str | None]]:
    """(form id, filename, hash, type) of every mediaFile of every form the phone gets."""
    listing = phone.get("/formList")
    assert listing.status_code == 200
    found = []
    for xform in ET.fromstring(listing.data).iter(f"{LIST}xform"):
        manifest_url = xform.findtext(f"{LIST}manifestUrl")
        if not manifest_url:
            continue
        response = phone.client.get(
            _path(manifest_url) + "?deviceID=collect%3AAbCdEfGh12345678",
            headers={"X-OpenRosa-Version": "1.0"},
        )
        assert response.status_code == 200
        for media in ET.fromstring(response.data).iter(f"{MAN}mediaFile"):
            found.append(
                (
                    str(xform.findtext(f"{LIST}formID")),
                    str(media.findtext(f"{MAN}filename")),
                    str(media.findtext(f"{MAN}hash")),
                    media.get("type"),
                    str(media.findtext(f"{MAN}downloadUrl")),
                )
            )
    return found  # type: ignore[return-value]


def _served_md5(phone: DeviceClient, url: str) -> str:
    response = phone.client.get(
        _path(url) + "?deviceID=collect%3AAbCdEfGh12345678",
        headers={"X-OpenRosa-Version": "1.0"},
    )
    assert response.status_code == 200, url
    return "md5:" + hashlib.md5(response.data).hexdigest()


def _check_every_phone(phones: dict[str, DeviceClient]) -> None:
    checked = set()
    for role, phone in phones.items():
        files = _manifest_files(phone)
        ordinary = [f for f in files if f[3] is None]
        assert {(f[0], f[1]) for f in ordinary} >= {
            ("case_plan", "plan_items.csv"),
            ("case_plan", "services.csv"),
            ("contact_log", "plan_items.csv"),
            ("contact_log", "services.csv"),
        }
        for form_id, name, manifest_hash, _, url in ordinary:
            assert manifest_hash == _served_md5(phone, url), (role, form_id, name)
            checked.add((role, form_id, name))
        # asking again (nothing changed) gives the same answer
        assert _manifest_files(phone) == files
    assert len(checked) >= 12


def test_manifest_hash_of_each_list_is_the_md5_of_what_each_phone_downloads(
    published: None, make: Factory, client: FlaskClient
) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("cw2", "caseworker", team="south")
    make.user("sup", "supervisor", team="north")
    make.user("boss", "admin")

    def add_services(session):  # type: ignore[no-untyped-def]
        create_service(
            session,
            {"service_id": "clinic-1", "name": "District clinic", "category": "health",
             "provider": "Health Office", "location": "Main street"},
        )  # fmt: skip
        create_service(
            session,
            {"service_id": "legal-1", "name": "Legal desk", "category": "legal_aid"},
        )

    make._run(add_services)
    phones = {
        "caseworker": make.device_client("phone-cw1", "cw1"),
        "other caseworker": make.device_client("phone-cw2", "cw2"),
        "supervisor": make.device_client("phone-sup", "sup"),
        "admin": make.device_client("phone-boss", "boss"),
    }
    plan, entity_id = new_case_plan("CP-H-1", caseworker="cw1")
    assert phones["caseworker"].submit(plan).status_code == 201
    plan2, _ = new_case_plan("CP-H-2", caseworker="cw2")
    assert phones["other caseworker"].submit(plan2).status_code == 201
    _check_every_phone(phones)

    # the lists change: the hashes follow the bytes
    contact = contact_log(
        "CP-H-1", entity_id, base_version=1, contact_time="2026-11-24T10:00:00.000Z",
        next_contact="2026-11-28",
    )  # fmt: skip
    assert phones["caseworker"].submit(contact).status_code == 201
    _check_every_phone(phones)


def _statements(app_: Flask, run):  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = get_database(app_).engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def _hashes(phone: DeviceClient) -> dict[str, str]:
    return {f"{f[0]}/{f[1]}": f[2] for f in _manifest_files(phone)}


def test_manifests_reuse_the_lists_until_what_they_show_changes(
    published: None, make: Factory, app: Flask, database_url: str, tmp_path
) -> None:
    make.user("cw1", "caseworker", team="north")
    make.user("sup", "supervisor", team="north")
    cw1 = make.device_client("phone-cw1", "cw1")
    sup = make.device_client("phone-sup", "sup")
    plan, entity_id = new_case_plan("CP-C-1", caseworker="cw1")
    assert cw1.submit(plan).status_code == 201
    first = _hashes(sup)

    # Asked again, no list is built again: no read of cases or plan items.
    again: dict[str, str] = {}
    seen = _statements(app, lambda: again.update(_hashes(sup)))
    assert again == first
    assert not [s for s in seen if "plan_item" in s or "case_record" in s]

    # Another worker process (another app on the same database) finds them too.
    other = create_app(app_config(database_url, tmp_path / "data"))
    try:
        phone = DeviceClient(other.test_client(), sup.token)
        seen = _statements(other, lambda: again.update(_hashes(phone)))
        assert again == first
        assert not [s for s in seen if "plan_item" in s or "case_record" in s]
    finally:
        get_database(other).engine.dispose()

    # A contact changes the case and its items: new lists, new hashes.
    contact = contact_log(
        "CP-C-1", entity_id, base_version=1, contact_time="2026-11-24T10:00:00.000Z",
        next_contact="2026-11-28",
    )  # fmt: skip
    assert cw1.submit(contact).status_code == 201
    after_contact = _hashes(sup)
    assert after_contact["contact_log/cases.csv"] != first["contact_log/cases.csv"]

    # The supervisor moves to another team: their phone's lists empty out.
    def move(session):  # type: ignore[no-untyped-def]
        session.scalars(select(User).where(User.username == "sup")).one().team = "south"

    make._run(move)
    moved = _hashes(sup)
    assert moved["contact_log/plan_items.csv"] != after_contact["contact_log/plan_items.csv"]
    items = sup.get("/forms/contact_log/attachments/plan_items.csv")
    assert items.data.decode().strip().count("\n") == 0  # the header only
    assert "md5:" + hashlib.md5(items.data).hexdigest() == moved["contact_log/plan_items.csv"]
    # the services directory did not change: its hash stays
    assert moved["contact_log/services.csv"] == first["contact_log/services.csv"]


def test_only_writes_to_what_lists_show_raise_their_version(make: Factory, db_session) -> None:  # type: ignore[no-untyped-def]
    make.user("cw1", "caseworker", team="north")

    def version(source: str) -> int:
        db_session.rollback()  # a fresh read
        return list_cache.current_version(db_session, source)

    cases, services = version("cases"), version("services")

    def failed_login(session):  # type: ignore[no-untyped-def]
        session.scalars(select(User).where(User.username == "cw1")).one().failed_logins = 3

    make._run(failed_login)  # no list shows it
    assert (version("cases"), version("services")) == (cases, services)

    def rename(session):  # type: ignore[no-untyped-def]
        session.scalars(select(User).where(User.username == "cw1")).one().username = "cw9"

    make._run(rename)  # cases.csv names the caseworker
    assert (version("cases"), version("services")) == (cases + 1, services)

    def add_service(session):  # type: ignore[no-untyped-def]
        create_service(session, {"service_id": "f-1", "name": "Food", "category": "food"})

    make._run(add_service)
    assert (version("cases"), version("services")) == (cases + 1, services + 1)
