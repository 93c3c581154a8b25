"""Consent and information sharing through the device protocol with the real forms: the
registration records who gave consent, to what and when; a contact log withdraws or
extends it; the phone's case list carries the consent in force (``consent``,
``consent_share``) and the services list each service's kind of agency and whether it is
our own, which the forms' constraints read to refuse a referral that consent does not
cover; one that arrives anyway (an older form, or consent withdrawn meanwhile) is held for
a supervisor, on the case page and the worklist; reprocessing keeps all of it.
"""

from __future__ import annotations

import csv
import functools
import html
import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from server import db
from server.cases.settings import case_settings
from server.commands.submissions import reapply_all
from server.services.service import create_service
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import consent_answers, contact_log, new_case_plan, xform
from tests.web.conftest import Web


def _listed(device: DeviceClient, list_name: str = "cases.csv") -> dict[str, dict[str, str]]:
    response = device.get(f"/forms/contact_log/attachments/{list_name}")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    key = "case_ref" if list_name == "cases.csv" else "name"
    return {r[key]: r for r in rows}


def _record(client: FlaskClient, ref: str, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/api/v1/cases/{ref}", headers=headers)
    assert response.status_code == 200, response.json
    record: dict[str, Any] = response.json
    return record


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _web(app: Flask, username: str) -> Web:
    web = Web(app.test_client())
    assert web.login(username).status_code == 302
    return web


def _directory(make: Factory) -> None:
    """An outside health clinic (the real forms' ``clinic-1``), an outside police desk and
    our own agency's psychosocial team."""

    def add(session):  # type: ignore[no-untyped-def]
        create_service(
            session,
            {"service_id": "clinic-1", "name": "District clinic", "category": "health",
             "provider": "Health Office", "location": "Main street"},
        )  # fmt: skip
        create_service(
            session,
            {"service_id": "police-1", "name": "Family desk", "category": "other",
             "agency_kind": "police"},
        )  # fmt: skip
        create_service(
            session,
            {"service_id": "pss-1", "name": "Our PSS team", "category": "psychosocial",
             "agency_kind": "ngo", "internal": True},
        )  # fmt: skip

    make._run(add)


def _reprocess_all(app: Flask) -> None:
    with app.app_context():
        reapply_all(db.session(), case_settings(app))
        db.session().commit()


def test_consent_given_withdrawn_and_extended_reaches_the_case_and_the_phone(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    _directory(make)
    plan, entity = new_case_plan(
        "CP-CS-1",
        risk="medium",
        consent=consent_answers(by="child_and_caregiver", share="health education"),
    )
    assert device.submit(plan).status_code == 201

    record = _record(client, "CP-CS-1", sup)
    assert record["consent"] == "given"
    assert record["consent_share"] == ["health", "education"]
    [given] = record["consent_history"]
    assert (given["change"], given["by"], given["services"]) == (
        "given",
        "child_and_caregiver",
        "yes",
    )
    assert given["date"] == "2026-11-20"
    assert given["user"] == "cw1"
    assert record["provenance"]["consent_share"]["user"] == "cw1"
    # the referral to the health clinic is covered
    [service] = [i for i in record["plan_items"] if i["kind"] == "service"]
    assert service["held"] is False

    row = _listed(device)["CP-CS-1"]
    assert (row["consent"], row["consent_share"]) == ("given", "health education")
    services = _listed(device, "services.csv")
    assert (services["clinic-1"]["agency_kind"], services["clinic-1"]["internal"]) == (
        "health",
        "no",
    )
    assert services["pss-1"]["internal"] == "yes"
    assert services["police-1"]["agency_kind"] == "police"

    # the caregiver withdraws consent to share with health services
    version = int(row["__version"])
    withdraw = contact_log(
        "CP-CS-1",
        entity,
        base_version=version,
        contact_time="2026-11-24T10:00:00.000+00:00",
        consent=("withdraw", "caregiver", "education", "yes"),
        consent_before="health education",
    )
    assert device.submit(withdraw).status_code == 201
    record = _record(client, "CP-CS-1", sup)
    assert record["consent"] == "withdrawn"
    assert record["consent_share"] == ["education"]
    assert [h["change"] for h in record["consent_history"]] == ["given", "withdrawn"]
    # the open referral to the clinic is no longer covered: held for a supervisor
    [service] = [i for i in record["plan_items"] if i["kind"] == "service"]
    assert service["held"] is True
    row = _listed(device)["CP-CS-1"]
    assert (row["consent"], row["consent_share"]) == ("withdrawn", "education")

    # later the consent is extended to health services and the police: released
    extend = contact_log(
        "CP-CS-1",
        entity,
        base_version=int(row["__version"]),
        contact_time="2026-11-28T10:00:00.000+00:00",
        consent=("extend", "child_and_caregiver", "health education police", "yes"),
        consent_before="education",
    )
    assert device.submit(extend).status_code == 201
    record = _record(client, "CP-CS-1", sup)
    assert record["consent"] == "extended"
    assert record["consent_share"] == ["health", "education", "police"]
    assert [h["change"] for h in record["consent_history"]] == ["given", "withdrawn", "extended"]
    [service] = [i for i in record["plan_items"] if i["kind"] == "service"]
    assert service["held"] is False
    assert _listed(device)["CP-CS-1"]["consent_share"] == "health education police"

    _reprocess_all(app)
    again = _record(client, "CP-CS-1", sup)
    assert again["consent_history"] == record["consent_history"]
    assert again["consent_share"] == record["consent_share"]


def _bind(form_id: str, name: str) -> dict[str, str]:
    """The attributes of the form's bind for the question ``name``, as pyxform wrote it."""
    match = re.search(rf'<bind ([^>]*nodeset="[^"]*/{name}"[^>]*)/>', xform(form_id))
    assert match is not None, f"{form_id} has no bind for {name}"
    return {k: html.unescape(v) for k, v in re.findall(r'([\w:]+)="([^"]*)"', match.group(1))}


def _allows(constraint: str, values: dict[str, str]) -> bool:
    """The referral constraint evaluated as the phone would, for these values of the
    calculations it names (``selected(list, word)``: the word is one of the list's)."""
    expr = re.sub(r"\s+", " ", constraint)
    for path, value in values.items():
        expr = re.sub(rf"\s*(?:/data/[\w/]*?|(?:\.\./)+)\b{path}\b\s*", f" '{value}' ", expr)
    expr = re.sub(
        r"selected\(\s*'([^']*)'\s*,\s*'([^']*)'\s*\)",
        lambda m: str(m.group(2) in m.group(1).split()),
        expr,
    )
    expr = re.sub(r"'([^']*)'\s*=\s*'([^']*)'", lambda m: str(m.group(1) == m.group(2)), expr)
    tokens = re.findall(r"\(|\)|\w+", expr)
    assert set(tokens) <= {"(", ")", "True", "False", "and", "or", "not"}, expr
    return _boolean(tokens)


def _boolean(tokens: list[str]) -> bool:
    """``True``/``False`` joined by ``or``, ``and``, ``not`` and brackets, as XPath reads
    them (``and`` before ``or``)."""
    at = 0

    def either() -> bool:
        nonlocal at
        value = both()
        while at < len(tokens) and tokens[at] == "or":
            at += 1
            value = both() or value
        return value

    def both() -> bool:
        nonlocal at
        value = one()
        while at < len(tokens) and tokens[at] == "and":
            at += 1
            value = one() and value
        return value

    def one() -> bool:
        nonlocal at
        token = tokens[at]
        at += 1
        if token == "not":
            return not one()
        if token == "(":
            value = either()
            at += 1  # ")"
            return value
        return token == "True"

    result = either()
    assert at == len(tokens), tokens
    return result


def _referral_allows(
    constraint: str, kind: str, internal: str, share: str, agency: str, ours: str
) -> bool:
    """The referral constraint for a consent in force (``share``) and a service of the
    kind ``agency``, ``ours`` (yes/no) saying whether it is our own agency."""
    return _allows(constraint, {"consent_share_in_force": share, kind: agency, internal: ours})


def test_the_forms_refuse_a_referral_the_consent_in_force_does_not_cover() -> None:
    """The constraint on the case plan's service and the contact log's health referral, as
    pyxform converts them (ODK Validate passes them: tests/xforms), read the consent in
    force (this registration's answer, or cases.csv's ``consent_share``) and the service's
    ``agency_kind`` and ``internal`` from services.csv."""
    plan_in_force = _bind("case_plan", "consent_share_in_force")["calculate"]
    assert "instance('cases')/root/item[name=" in plan_in_force
    assert plan_in_force.rstrip().endswith("/consent_share)")
    assert "consent_group/consent_share" in plan_in_force  # a new case: its own answer
    assert "services')/root/item" in _bind("case_plan", "service_agency_kind")["calculate"]
    assert _bind("case_plan", "service_internal")["calculate"].rstrip().endswith("/internal")
    contact_in_force = _bind("contact_log", "consent_share_in_force")["calculate"]
    assert "consent_share_now" in contact_in_force
    assert "consent_share_before" in contact_in_force
    assert (
        _bind("contact_log", "consent_share_before")["calculate"]
        .rstrip()
        .endswith("/consent_share")
    )

    for form_id, field, kind, internal in (
        ("case_plan", "service", "service_agency_kind", "service_internal"),
        ("contact_log", "health_service", "health_service_kind", "health_service_internal"),
    ):
        bind = _bind(form_id, field)
        constraint = bind["constraint"]
        message = bind["jr:constraintMsg"]
        assert "itext" in message  # in every language of the form (tests/xforms checks five)

        allows = functools.partial(_referral_allows, constraint, kind, internal)
        assert allows("health education", "health", "no")
        assert not allows("education", "health", "no")  # withdrawn, or never given
        assert not allows("", "police", "no")  # no consent recorded
        assert not allows("none", "health", "no")
        assert allows("", "ngo", "yes")  # our own agency shares nothing outside
    text = xform("contact_log")
    assert "The consent in force does not allow sharing information" in text
    assert "Le consentement en vigueur ne permet pas" in text


def test_a_referral_consent_does_not_cover_is_held_for_a_supervisor(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    """An older form (no consent recorded) and a contact made on a phone that had not yet
    seen a withdrawal both send referrals the consent does not cover: the server holds them
    on the case page and the worklist, and releases what consent comes to cover."""
    make.user("sup", "supervisor", team="north")
    make.user("sup-south", "supervisor", team="south")
    sup = bearer(make.api_token("sup"))
    _directory(make)

    # an older case plan, with no consent questions: its referral to the clinic is held
    old, _old_entity = new_case_plan("CP-CS-2", risk="medium")
    assert device.submit(old).status_code == 201
    record = _record(client, "CP-CS-2", sup)
    assert record["consent"] is None
    assert record["consent_share"] == []
    [service] = [i for i in record["plan_items"] if i["kind"] == "service"]
    assert service["held"] is True
    assert _listed(device)["CP-CS-2"]["consent_share"] == ""

    # consent to share with health services only; then, on a phone that has not seen the
    # withdrawal yet, a referral to the police and one to our own team
    plan, entity = new_case_plan(
        "CP-CS-3", risk="medium", consent=consent_answers(by="caregiver", share="health")
    )
    assert device.submit(plan).status_code == 201
    version = int(_listed(device)["CP-CS-3"]["__version"])
    withdraw = contact_log(
        "CP-CS-3",
        entity,
        base_version=version,
        contact_time="2026-11-24T10:00:00.000+00:00",
        consent=("withdraw", "caregiver", "none", "yes"),
        consent_before="health",
    )
    referral = contact_log(
        "CP-CS-3",
        entity,
        base_version=version,  # this phone saw the consent before the withdrawal
        contact_time="2026-11-25T09:00:00.000+00:00",
        health_referrals=[
            ("police-1", "Family desk", "Police, Main street", "2026-11-30"),
            ("pss-1", "Our PSS team", "Casework agency", "2026-11-30"),
        ],
        consent_before="health",
    )
    assert device.submit(referral).status_code == 201
    record = _record(client, "CP-CS-3", sup)
    held = {i["properties"].get("health_service") or i["properties"].get("service"): i["held"]
            for i in record["plan_items"] if i["kind"] == "service"}  # fmt: skip
    assert held == {"clinic-1": False, "police-1": True, "pss-1": False}
    assert device.submit(withdraw).status_code == 201
    record = _record(client, "CP-CS-3", sup)
    held = {i["properties"].get("health_service") or i["properties"].get("service"): i["held"]
            for i in record["plan_items"] if i["kind"] == "service"}  # fmt: skip
    assert held == {"clinic-1": True, "police-1": True, "pss-1": False}
    assert record["consent"] == "withdrawn"
    assert record["consent_share"] == []

    # the supervisor sees them on the worklist and the case page; another team's does not
    web = _web(app, "sup")
    dashboard = web.text("/dashboard")
    assert re.search(r'id="n-held-referrals">3<', dashboard)
    held_table = _text(dashboard.split('id="held-referrals"')[1].split("</table>")[0])
    assert "CP-CS-2" in held_table
    assert "CP-CS-3" in held_table
    assert "Family desk" in held_table
    assert re.search(r'id="n-held-referrals">0<', _web(app, "sup-south").text("/dashboard"))
    page = web.text("/cases/CP-CS-3")
    consent = _text(page.split('id="case-consent"')[1].split("</section>")[0])
    assert "Consent in force consent withdrawn" in consent
    assert "Information may be shared with no agency" in consent
    assert "2 referrals are held" in consent
    assert "consent given by a caregiver; information may be shared with: health services" in (
        consent
    )
    assert "consent withdrawn by a caregiver; information may be shared with: no agency" in (
        consent
    )
    assert page.count("held: no consent") == 2
    assert "No consent recorded" in _text(web.text("/cases/CP-CS-2"))

    _reprocess_all(app)
    again = _record(client, "CP-CS-3", sup)
    assert sorted(i["held"] for i in again["plan_items"] if i["kind"] == "service") == [
        False,
        True,
        True,
    ]


def test_the_transfer_summary_holds_what_consent_allows(
    app: Flask, published: None, make: Factory, device: DeviceClient
) -> None:
    make.user("sup", "supervisor", team="north")
    _directory(make)
    for ref, share in (("CP-CS-4", "health social_protection"), ("CP-CS-5", "health")):
        plan, _ = new_case_plan(
            ref, risk="medium", consent=consent_answers(by="child", share=share)
        )
        assert device.submit(plan).status_code == 201
    web = _web(app, "sup")
    for ref in ("CP-CS-4", "CP-CS-5"):
        out = web.post(
            f"/cases/{ref}/transfer",
            {
                "to": "agency:",
                "agency": "District social welfare",
                "agency_kind": "social_protection",
                "reason": "Out of area",
            },
        )
        assert out.status_code == 302, out.get_data(as_text=True)
    covered = _text(web.text("/cases/CP-CS-4/transfer/summary"))
    assert "covers sharing information with social protection" in covered
    assert "District clinic" in covered  # the referral's title: consent allows it
    assert "Safety plan with aunt" not in covered  # free text the plan typed never leaves
    not_covered = _text(web.text("/cases/CP-CS-5/transfer/summary"))
    assert "does not cover sharing information with this agency" in not_covered
    assert "District clinic" not in not_covered
    # a kind that is not one of the list is refused, and nothing happens
    plan, _ = new_case_plan("CP-CS-6", risk="medium", consent=consent_answers())
    assert device.submit(plan).status_code == 201
    web.post(
        "/cases/CP-CS-6/transfer",
        {"to": "agency:", "agency": "X", "agency_kind": "army", "reason": "Out of area"},
    )
    assert "Transferred to" not in _text(web.text("/cases/CP-CS-6"))


def test_the_transfer_summary_keeps_a_typed_service_name_out_without_consent(
    app: Flask, published: None, make: Factory, device: DeviceClient
) -> None:
    """A service of category ``other`` is named in free text (``service_other``), and the
    form makes its key from that text (``other-…``): a summary the consent does not cover
    must not carry the typed name in its codes either."""
    make.user("sup", "supervisor", team="north")
    _directory(make)
    plan, _ = new_case_plan(
        "CP-CS-7",
        risk="medium",
        services=(("other", "planned"),),
        consent=consent_answers(by="child", share="health"),
    )
    typed = "Pregnancy counselling"
    plan = (
        plan.decode()
        .replace(
            "<service_category>other</service_category>",
            f"<service_category>other</service_category><service_other>{typed}</service_other>",
        )
        .replace("<service_key>other</service_key>", "<service_key>other-pregnancy-counselling</service_key>")
        .replace("<service_title>other</service_title>", f"<service_title>{typed}</service_title>")
        .encode()
    )  # fmt: skip
    assert device.submit(plan).status_code == 201
    web = _web(app, "sup")
    out = web.post(
        "/cases/CP-CS-7/transfer",
        {
            "to": "agency:",
            "agency": "District social welfare",
            "agency_kind": "social_protection",
            "reason": "Out of area",
        },
    )
    assert out.status_code == 302, out.get_data(as_text=True)
    summary = _text(web.text("/cases/CP-CS-7/transfer/summary"))
    assert "does not cover sharing information with this agency" in summary
    assert "pregnancy" not in summary.lower()


def test_a_directory_change_to_a_service_agency_holds_or_releases_its_referrals(
    app: Flask, published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    """Whether a referral is held depends on the directory (the service's kind of agency,
    whether it is our own): when an admin corrects either, the referrals to the service are
    held or released at once, as a reprocess would leave them, not at each case's next
    submission."""
    from server.services.service import update_service

    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    _directory(make)
    plan, entity = new_case_plan(
        "CP-CS-8", risk="medium", consent=consent_answers(by="caregiver", share="health")
    )
    assert device.submit(plan).status_code == 201
    version = int(_listed(device)["CP-CS-8"]["__version"])
    referral = contact_log(
        "CP-CS-8",
        entity,
        base_version=version,
        contact_time="2026-11-25T09:00:00.000+00:00",
        health_referrals=[
            ("police-1", "Family desk", "Police, Main street", "2026-11-30"),
            ("pss-1", "Our PSS team", "Casework agency", "2026-11-30"),
        ],
        consent_before="health",
    )
    assert device.submit(referral).status_code == 201

    def held() -> dict[str, bool]:
        record = _record(client, "CP-CS-8", sup)
        return {
            i["properties"].get("health_service") or i["properties"].get("service"): i["held"]
            for i in record["plan_items"]
            if i["kind"] == "service"
        }

    assert held() == {"clinic-1": False, "police-1": True, "pss-1": False}
    # the family desk is in fact our own; the PSS team an outside NGO; the clinic police
    make._run(lambda s: update_service(s, "police-1", {"internal": True}))
    make._run(lambda s: update_service(s, "pss-1", {"internal": False}))
    make._run(lambda s: update_service(s, "clinic-1", {"agency_kind": "police"}))
    now = held()
    assert now == {"clinic-1": True, "police-1": False, "pss-1": True}
    _reprocess_all(app)
    assert held() == now
