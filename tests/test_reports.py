"""Registration data and reports, end to end: phones register cases with the real case plan
(age or age band, sex, the Washington Group questions, region and district, intake
concern), follow-ups and a supervisor change them, and the Reports page, its CSV and the
API count them by team, with small cells hidden so that the totals do not give them back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server import create_app, db
from server.auth.models import User
from server.auth.service import update_user
from server.cases import report_counts
from server.cases.models import CaseReportCount
from server.config import ConfigError
from tests.conftest import app_config
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import XLSFORMS, child_answers, contact_log, new_case_plan, xlsform_bytes

AREAS = (XLSFORMS / "case_plan-media" / "areas.csv").read_bytes()
YEAR = "from=2026-01&to=2026-12"


def publish(make: Factory) -> None:
    make.publish_bytes(xlsform_bytes("case_plan"), "case_plan.xlsx", media={"areas.csv": AREAS})
    for form_id in ("contact_log", "case_conference"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")


def table(report: dict[str, Any], dimension: str) -> dict[str, list[Any]]:
    """A breakdown of the API's report: category -> counts per column, "total" too."""
    (found,) = [t for t in report["tables"] if t["dimension"] == dimension]
    rows = {r["value"]: r["counts"] for r in found["rows"]}
    if found["total"] is not None:
        rows["total"] = found["total"]
    return rows


def column(report: dict[str, Any], dimension: str, index: int = 0) -> dict[str, Any]:
    return {k: v[index] for k, v in table(report, dimension).items()}


def assert_nothing_small_shown(report: dict[str, Any], min_cell: int = 5) -> None:
    """No number from 1 to min_cell - 1 is shown, and no breakdown hides exactly one number
    of a column, its total included: the others would give it back."""
    for t in report["tables"]:
        rows = [r["counts"] for r in t["rows"]] + ([t["total"]] if t["total"] else [])
        for counts in rows:
            for n in counts:
                assert not (isinstance(n, int) and 0 < n < min_cell), (t["dimension"], counts)
        if t["total"] is None:
            continue
        for i in range(len(report["columns"])):
            cells = [r["counts"][i] for r in t["rows"]] + [t["total"][i]]
            hidden = [n for n in cells if isinstance(n, str)]
            assert len(hidden) != 1, (t["dimension"], report["columns"][i])


def register(
    phone: DeviceClient, ref: str, caseworker: str, *, plan_date: str = "2026-11-20", **child: Any
) -> str:
    needs = child.pop("needs", ("physical_violence",))
    services = child.pop("services", (("health", "referred"),))
    xml, entity_id = new_case_plan(
        ref,
        caseworker=caseworker,
        plan_date=plan_date,
        child=child_answers(**child),
        needs=needs,
        services=services,
    )
    assert phone.submit(xml).status_code == 201
    return entity_id


@pytest.fixture
def world(make: Factory) -> dict[str, Any]:
    """Nine north cases (two caseworkers), six south ones, one north case in 2025."""
    publish(make)
    for name, team in (("cw1", "north"), ("cw2", "north"), ("cw3", "south")):
        make.user(name, "caseworker", team=team)
    make.user("sup_n", "supervisor", team="north")
    make.user("sup_s", "supervisor", team="south")
    make.user("adm", "admin")
    make.user("des", "designer")
    p1, p2, p3 = (make.device_client(f"p{i}", f"cw{i}") for i in (1, 2, 3))
    entities = {
        "N1": register(
            p1, "N-1", "cw1", age=3, concern="neglect", needs=("neglect", "separation"),
            services=(("education", "planned"), ("health", "delivered")),
        ),
        "N2": register(p1, "N-2", "cw1", age=7, difficulties={"wg_walking": "a_lot"}),
        "N3": register(p1, "N-3", "cw1", age=8),
        "N4": register(p1, "N-4", "cw1", age=12),
        "N5": register(p1, "N-5", "cw1", age=13),
        "N6": register(p2, "N-6", "cw2", age=None, band="10-14"),
        "N7": register(p2, "N-7", "cw2", age=11),
        "N8": register(p2, "N-8", "cw2", age=None, band="15-17", sex="male"),
        "N9": register(p2, "N-9", "cw2", age=16, sex="male", region="R02", district="R02D01"),
        "S6": register(p3, "S-6", "cw3", age=15, sex="other", region="R03", district="R03D01"),
        "old": register(p1, "N-0", "cw1", plan_date="2025-06-01", age=4, sex="male"),
    }  # fmt: skip
    for i in range(1, 6):
        register(p3, f"S-{i}", "cw3", age=9, region="R03", district="R03D02")
    return {
        "phones": {"cw1": p1, "cw2": p2, "cw3": p3},
        "entities": entities,
        "api": {n: bearer(make.api_token(n)) for n in ("sup_n", "sup_s", "adm", "cw1", "des")},
    }


def report(client: FlaskClient, headers: dict[str, str], query: str = YEAR) -> dict[str, Any]:
    response = client.get(f"/api/v1/reports?{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    data: dict[str, Any] = response.json  # type: ignore[assignment]
    assert_nothing_small_shown(data, data["min_cell"])
    return data


def stored_counts(app: Flask) -> dict[Any, int]:
    with app.app_context():
        rows = db.session().execute(select(CaseReportCount)).scalars()
        return {(r.team, r.dimension, r.value, r.month): r.n for r in rows if r.n}


def recounted(app: Flask) -> dict[Any, int]:
    with app.app_context():
        return report_counts.recount(db.session())


def test_cases_registered_on_phones_are_counted_with_small_cells_hidden(
    app: Flask, client: FlaskClient, world: dict[str, Any]
) -> None:
    api = world["api"]
    assert stored_counts(app) == recounted(app)

    # the case keeps the answers as fields, and the report's columns derived from them
    case = client.get("/api/v1/cases/N-2", headers=api["adm"]).json
    assert case["registration"] == {
        "age_years": 7, "age_band": "5-9", "sex": "female", "disability": "yes",
        "admin1": "R01", "admin2": "R01D01", "intake_concern": "neglect",
    }  # fmt: skip
    assert case["properties"]["wg_walking"] == "a_lot"
    assert case["provenance"]["sex"]["user"] == "cw1"
    band_only = client.get("/api/v1/cases/N-6", headers=api["adm"]).json["registration"]
    assert (band_only["age_years"], band_only["age_band"]) == (None, "10-14")
    assert "birth" not in str(case["properties"])

    # the north supervisor: their team only; 2 boys and no "other" would give each other
    # away through the total, so both are hidden
    north = report(client, api["sup_n"])
    assert north["columns"] == ["north"]
    assert column(north, "sex") == {"female": 7, "male": "<5", "other": "<5", "": 0, "total": 9}
    # the one child with a disability: the "no" is hidden too, as "not recorded" is a 0
    # anyone can tell (no team has one), and the total would give the "<5" back
    assert column(north, "disability") == {"yes": "<5", "no": "*", "": 0, "total": 9}
    assert column(north, "age_band") == {
        "0-4": "<5",
        "5-9": "<5",
        "10-14": "<5",
        "15-17": "<5",
        "": 0,
        "total": 9,
    }
    assert column(north, "region")["R01"] == 8
    assert column(north, "need")["neglect"] == "<5"
    assert column(north, "need")["physical_violence"] == 8

    # an admin: every team, side by side (no column for cases without a team: there are
    # none); the 2025 case is outside the range
    everyone = report(client, api["adm"], YEAR + "&by_team=true")
    assert everyone["columns"] == ["all", "north", "south"]
    assert table(everyone, "sex") == {
        "female": [12, 7, 5],
        "male": ["<5", "<5", "<5"],
        "other": ["<5", "<5", "<5"],
        "": [0, 0, 0],
        "total": [15, 9, 6],
    }
    assert table(everyone, "region") == {
        "R01": [8, 8, 0], "R02": ["<5", "<5", 0], "R03": ["*", "<5", 6], "": [0, 0, 0],
        "total": [15, 9, 6],
    }  # fmt: skip
    assert table(everyone, "referral")["total"][0] == 16
    # the same pattern whoever asks: the north column alone is the by-team view's
    assert table(report(client, api["adm"], YEAR + "&team=north"), "sex") == {
        k: [v[1]] for k, v in table(everyone, "sex").items()
    }
    assert report(client, api["adm"], "from=2025-06&to=2025-06")["tables"][1]["total"] == ["<5"]

    # changes from the phones and a supervisor move the counts: the registration edited
    # (a boy recorded as a girl), a referral made at a contact, a case given to the north
    phones, entities = world["phones"], world["entities"]
    corrected, _ = new_case_plan(
        "N-9", entities["N9"], caseworker="cw2",
        child=child_answers(age=16, sex="female", region="R02", district="R02D01"),
        deprecated_id=_instance_of(client, api["adm"], "N-9"),
    )  # fmt: skip
    assert phones["cw2"].submit(corrected).status_code == 201
    visit = contact_log(
        "N-1", entities["N1"], base_version=1, contact_time="2026-11-22T10:00:00.000Z",
        health_referral=("clinic-1", "District clinic", "District Health Office, Main road",
                         "2026-11-25"),
    )  # fmt: skip
    assert phones["cw1"].submit(visit).status_code == 201
    moved = client.post(
        "/api/v1/cases/S-6/reassign",
        headers=api["adm"],
        json={"username": "cw1", "reason": "caseload balanced"},
    )
    assert moved.status_code == 200, moved.json
    assert stored_counts(app) == recounted(app)

    north = report(client, api["sup_n"])
    assert column(north, "sex") == {"female": 8, "male": "<5", "other": "<5", "": 0, "total": 10}
    south = report(client, api["sup_s"])
    assert column(south, "sex") == {"female": 5, "male": 0, "other": 0, "": 0, "total": 5}
    everyone = report(client, api["adm"], YEAR + "&by_team=true")
    assert table(everyone, "referral")["total"][0] == 17
    assert table(everyone, "service")["health"][0] == 15  # cases, not referrals

    # the south caseworker joins the north team: their cases are counted there now
    with app.app_context():
        session = db.session()
        mover = session.scalar(select(User).where(User.username == "cw3"))
        update_user(session, mover, team="north")
        session.commit()
    assert stored_counts(app) == recounted(app)
    north = report(client, api["sup_n"])
    assert column(north, "sex")["total"] == 15
    assert column(report(client, api["sup_s"]), "sex")["total"] == 0
    everyone = report(client, api["adm"], YEAR + "&by_team=true")
    assert column(everyone, "sex", 2)["total"] == 0  # the south's supervisor is still there


def _instance_of(client: FlaskClient, headers: dict[str, str], ref: str) -> str:
    timeline = client.get(f"/api/v1/cases/{ref}", headers=headers).json["timeline"]
    return str(next(t["instance_id"] for t in timeline if t["is_registration"]))


def test_the_threshold_is_a_setting(app: Flask, client: FlaskClient, world: dict[str, Any]) -> None:
    app.config["REPORT_MIN_CELL"] = 3
    north = report(client, world["api"]["sup_n"])  # nothing from 1 to 2 shown
    assert north["min_cell"] == 3
    sex = column(north, "sex")
    assert (sex["female"], sex["male"], sex["other"]) == (7, "<3", "<3")
    assert column(north, "need")["physical_violence"] == 8
    app.config["REPORT_MIN_CELL"] = 1  # nothing hidden
    assert column(report(client, world["api"]["sup_n"]), "sex") == {
        "female": 7,
        "male": 2,
        "other": 0,
        "": 0,
        "total": 9,
    }


@pytest.mark.parametrize(
    ("who", "query", "status", "code"),
    [
        ("cw1", YEAR, 403, "auth.forbidden"),
        ("des", YEAR, 403, "auth.forbidden"),
        ("sup_n", YEAR + "&team=south", 403, "report.other_team"),
        ("adm", YEAR + "&team=nowhere", 400, "report.unknown_team"),
        ("adm", "from=2026-13&to=2026-12", 400, "report.bad_range"),
        ("adm", "from=2026-12&to=2026-01", 400, "report.bad_range"),
        ("adm", "from=1999-12&to=2026-01", 400, "report.bad_range"),
    ],
)
def test_who_may_see_which_report(
    client: FlaskClient, world: dict[str, Any], who: str, query: str, status: int, code: str
) -> None:
    response = client.get(f"/api/v1/reports?{query}", headers=world["api"][who])
    assert response.status_code == status
    assert response.json["code"] == code


def test_a_supervisor_sees_only_their_team_even_cut_by_team(
    client: FlaskClient, world: dict[str, Any]
) -> None:
    south = report(client, world["api"]["sup_s"], YEAR + "&by_team=true&team=south")
    assert south["columns"] == ["south"]
    assert column(south, "sex")["total"] == 6
    page_as_caseworker = client.get(
        f"/api/v1/reports?{YEAR}&format=csv", headers=world["api"]["cw1"]
    )
    assert page_as_caseworker.status_code == 403


@pytest.mark.parametrize("given", ["five", 0, True, 1001])
def test_a_threshold_that_is_not_a_count_stops_the_server(tmp_path: Path, given: object) -> None:
    with pytest.raises(ConfigError, match="CASEWORK_REPORT_MIN_CELL"):
        create_app(app_config("sqlite://", tmp_path / "data", REPORT_MIN_CELL=given))
