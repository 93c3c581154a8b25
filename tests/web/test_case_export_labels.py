"""A case export with the forms' labels: the columns a question fills are headed by its
label and the answers chosen from a list, the plan items' kinds and statuses are the
choice labels of the forms (in the language asked for); codes stay the default. Cases made
with the real forms from xlsforms/, sent through the device protocol."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from typing import Any

import openpyxl
import pytest

from exports.cases import case_words
from tests.factories import DeviceClient, Factory
from tests.realforms import definition, new_case_plan


def _tables(data: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {
            n: list(csv.DictReader(io.StringIO(zf.read(n).decode("utf-8-sig"))))
            for n in zf.namelist()
        }


@pytest.fixture
def with_plan(published: None, device: DeviceClient) -> None:
    plan, _ = new_case_plan("CP-L-1", risk="high", frequency="7")
    assert device.submit(plan).status_code == 201


def _export(web: Any, **fields: str) -> Any:
    response = web.post("/exports", {"kind": "cases", "format": "csv", **fields})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return _tables(response.data)


def test_codes_stay_the_default(with_plan: None, web_as: Any) -> None:
    tables = _export(web_as("adm", "admin"))
    case = tables["cases.csv"][0]
    assert case["risk_level"] == "high"
    assert case["contact_frequency_days"] == "7"
    kinds = {(i["kind"], i["status"]) for i in tables["plan_items.csv"]}
    assert ("need", "planned") in kinds
    assert ("service", "referred") in kinds


def test_labels_head_the_columns_and_word_the_values(with_plan: None, web_as: Any) -> None:
    tables = _export(web_as("adm", "admin"), labels="yes")
    case = tables["cases.csv"][0]
    words = case_words([definition("case_plan")], None)
    risk_header = words.headers["risk_level"]
    assert risk_header != "risk_level"
    assert case[risk_header] == "High"
    assert case[words.headers["contact_frequency_days"]] == "Weekly (every 7 days)"
    assert "risk_level" not in case
    assert case["case_ref"] == "CP-L-1"  # the columns the server computes keep their names
    assert "next_contact_due" in case
    items = {(i["kind"], i["status"]) for i in tables["plan_items.csv"]}
    assert ("Protection need", "Not started yet") in items
    assert ("Service", "Referred, waiting for the service") in items
    assert ("Action", "In progress") in items


def test_labels_in_the_language_asked_for(with_plan: None, web_as: Any) -> None:
    tables = _export(web_as("adm", "admin"), labels="yes", language="fr")
    case = tables["cases.csv"][0]
    words = case_words([definition("case_plan")], "fr")
    assert case[words.headers["risk_level"]] == "Élevé"
    items = {(i["kind"], i["status"]) for i in tables["plan_items.csv"]}
    assert ("Besoin de protection", "Pas encore commencé") in items


def test_a_language_no_form_has_is_refused_before_the_export(
    with_plan: None, web_as: Any, make: Factory, client: Any
) -> None:
    admin = web_as("adm", "admin")
    refused = admin.post(
        "/exports", {"kind": "cases", "format": "csv", "labels": "yes", "language": "xx"}
    )
    assert refused.status_code == 302
    assert "no form has the language" in admin.text("/exports")
    make.user("boss", "admin")
    headers = {"Authorization": f"Bearer {make.api_token('boss')}"}
    api = client.get("/api/v1/cases/export?labels=true&language=xx", headers=headers)
    assert api.status_code == 400
    labelled = client.get("/api/v1/cases/export?labels=true&format=xlsx", headers=headers)
    assert labelled.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(labelled.data))["plan_items"]
    values = {c.value for row in sheet.iter_rows() for c in row}
    assert "Protection need" in values


def test_the_export_audit_records_the_labels_and_language(
    with_plan: None, web_as: Any, app: Any
) -> None:
    admin = web_as("adm", "admin")
    _export(admin, labels="yes", language="fr")
    page = admin.text("/audit?action=export.cases")
    assert "Labels instead of codes: yes" in page
    assert "Language: fr" in page


def test_the_command_line_exports_cases_with_labels(published_by_cli: Any, tmp_path: Any) -> None:
    cli = published_by_cli
    plan, _ = new_case_plan("CP-L-9", risk="medium", frequency="14")
    assert cli.phone.submit(plan).status_code == 201
    out = tmp_path / "cases.zip"
    assert "Wrote" in cli.casework(
        "export-cases", "--labels", "--language", "fr", "--out", str(out)
    )
    tables = _tables(out.read_bytes())
    case = tables["cases.csv"][0]
    assert case[case_words([definition("case_plan")], "fr").headers["risk_level"]] == "Moyen"
    assert ("Besoin de protection", "Pas encore commencé") in {
        (i["kind"], i["status"]) for i in tables["plan_items.csv"]
    }
    coded = tmp_path / "coded.zip"
    cli.casework("export-cases", "--out", str(coded))
    assert _tables(coded.read_bytes())["cases.csv"][0]["risk_level"] == "medium"


def test_the_export_page_offers_the_forms_languages(with_plan: None, web_as: Any) -> None:
    admin = web_as("adm", "admin")
    page = admin.text("/exports")
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # two forms on one page: each field its own id
    assert '<label for="f-case-language">' in page
    # a case export offers only what it does: no group paths, choice columns or dates
    case_form = page.split('id="case-export-h"', 1)[1]
    assert 'name="group_paths"' not in case_form
    assert 'name="received_from"' not in case_form
    assert 'name="labels"' in case_form
    assert re.search(r'<option value="French \(fr\)">French \(fr\)</option>', page)
    tables = _export(admin, labels="yes", language="French (fr)")
    items = {(i["kind"], i["status"]) for i in tables["plan_items.csv"]}
    assert ("Besoin de protection", "Pas encore commencé") in items
