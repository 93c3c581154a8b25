"""The XLSForms in xlsforms/ convert cleanly and keep the contract the server reads.

The contract (xlsforms/README.md): settings carry form_id and version, the XForm declares
the casework namespace, fields carry ``casework:role`` / ``casework:sensitive`` bind
attributes, answers reach the case through ODK entity ``saveto`` binds (sensitive ones
through ``casework:saveto``, which Collect does not write on the phone), and the device
case list is the ``cases`` entity list. Pure: pyxform and the XML only, no server import.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import shutil
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

import openpyxl
import pytest
from defusedxml import ElementTree
from pyxform.xls2xform import ConvertResult, convert

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

XLSFORMS = Path(__file__).resolve().parents[2] / "xlsforms"
FORMS = sorted(XLSFORMS.glob("*.xlsx"))
FORM_IDS = [p.stem for p in FORMS]

CASEWORK_NS = "urn:casework:xforms"
ENTITIES_NS = "http://www.opendatakit.org/xforms/entities"
XF = "{http://www.w3.org/2002/xforms}"
H = "{http://www.w3.org/1999/xhtml}"
ROLE = f"{{{CASEWORK_NS}}}role"
SENSITIVE = f"{{{CASEWORK_NS}}}sensitive"
EVENT = f"{{{CASEWORK_NS}}}event"
SAVETO = f"{{{ENTITIES_NS}}}saveto"
CASEWORK_SAVETO = f"{{{CASEWORK_NS}}}saveto"
CASEWORK_SAVETO = f"{{{CASEWORK_NS}}}saveto"

FIELD_ROLES = {
    "ref",
    "caseworker",
    "event_time",
    "risk",
    "contact_frequency",
    "next_contact",
    "review_due",
    "close",
    "outcome",
    "worker_safe",
    # the case plan's date by which a care plan is due; the care plan's review date
    "care_plan_due",
    "care_plan_review",
    # a conference's transfer: to whom (a caseworker or team from transfer_targets.csv, or
    # an outside agency) and why
    "transfer_caseworker",
    "transfer_team",
    "transfer_agency",
    "transfer_reason",
}
REPEAT_ROLES = {"need", "service", "action", "decision", "existing"}
ITEM_ROLES = {"key", "item_id", "title", "owner", "due", "status"}
# Columns of cases.csv that the server computes; no form writes them.
SERVER_CASE_COLUMNS = {"name", "label", "__version", "next_contact_due", "status"}
# The five languages of every text a caseworker reads (xlsforms/README.md), English first: it
# is the default language, the one the server shows where it needs a single label.
LANGUAGES = ("English (en)", "French (fr)", "Spanish (es)", "Arabic (ar)", "Portuguese (pt)")
TEXT_COLUMNS = ("label", "hint", "guidance_hint", "constraint_message", "required_message")
# Names that stay the same in every language.
SAME_IN_EVERY_LANGUAGE = {"WhatsApp", "Skype", "WeChat"}
# Pyxform's own metadata nodes whose names end in "name".
METADATA_NAMES = {"username", "instanceName"}

# Java is needed for ODK Validate. Locally its absence skips the check; on CI it must run.
needs_java = pytest.mark.skipif(
    shutil.which("java") is None and os.environ.get("CI") != "true",
    reason="ODK Validate needs java (CI=true makes this a failure instead)",
)


@dataclass(frozen=True)
class Bind:
    nodeset: str
    attrib: dict[str, str]

    @property
    def field(self) -> str:
        return self.nodeset.rsplit("/", 1)[-1]

    @property
    def role(self) -> str | None:
        return self.attrib.get(ROLE)


@dataclass(frozen=True)
class Form:
    form_id: str
    result: ConvertResult
    root: Element
    namespaces: dict[str, str]

    @property
    def model(self) -> Element:
        model = self.root.find(f"{H}head/{XF}model")
        assert model is not None
        return model

    @property
    def data(self) -> Element:
        data = self.model.find(f"{XF}instance/*")
        assert data is not None
        return data

    @property
    def binds(self) -> list[Bind]:
        return [Bind(b.get("nodeset", ""), dict(b.attrib)) for b in self.model.iter(f"{XF}bind")]

    def bind(self, field: str) -> Bind:
        (found,) = [b for b in self.binds if b.field == field]
        return found

    @property
    def repeats(self) -> list[str]:
        body = self.root.find(f"{H}body")
        assert body is not None
        return [r.get("nodeset", "") for r in body.iter(f"{XF}repeat")]

    def repeat_of(self, nodeset: str) -> str | None:
        parents = [r for r in self.repeats if nodeset.startswith(r + "/")]
        return max(parents, key=len) if parents else None

    @property
    def entity(self) -> Element:
        entity = self.data.find(f"{XF}meta/{XF}entity")
        assert entity is not None, "the entity block must sit in the form's top-level meta"
        return entity


@functools.cache
def load(form_id: str) -> Form:
    result = convert(xlsform=XLSFORMS / f"{form_id}.xlsx", file_type=".xlsx")
    namespaces = dict(
        ns for _, ns in ElementTree.iterparse(StringIO(result.xform), events=["start-ns"])
    )
    return Form(form_id, result, ElementTree.fromstring(result.xform), namespaces)


def test_the_case_forms_exist() -> None:
    assert {"case_plan", "contact_log", "case_conference", "care_plan"} <= set(FORM_IDS)


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_converts_without_warnings(form_id: str) -> None:
    assert load(form_id).result.warnings == []


@needs_java
@pytest.mark.parametrize("form_id", FORM_IDS)
def test_odk_validate_accepts_the_form(form_id: str) -> None:
    result = convert(xlsform=XLSFORMS / f"{form_id}.xlsx", file_type=".xlsx", validate=True)
    assert result.warnings == []


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_settings_name_the_form_and_its_version(form_id: str) -> None:
    data = load(form_id).data
    assert data.get("id") == form_id, "settings form_id must match the file name"
    assert re.fullmatch(r"\d{10}", data.get("version") or ""), "version is YYYYMMDDNN"


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_declares_the_casework_namespace(form_id: str) -> None:
    assert load(form_id).namespaces.get("casework") == CASEWORK_NS


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_has_exactly_one_case_reference(form_id: str) -> None:
    refs = [b for b in load(form_id).binds if b.role == "ref"]
    assert len(refs) == 1
    assert load(form_id).repeat_of(refs[0].nodeset) is None


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_roles_are_known_and_in_the_right_place(form_id: str) -> None:
    form = load(form_id)
    for bind in form.binds:
        if bind.role is None:
            continue
        if bind.nodeset in form.repeats:
            assert bind.role in REPEAT_ROLES, bind.nodeset
        elif form.repeat_of(bind.nodeset) is None:
            assert bind.role in FIELD_ROLES, bind.nodeset
        else:
            assert bind.role in ITEM_ROLES, bind.nodeset
            repeat = form.repeat_of(bind.nodeset)
            assert any(b.nodeset == repeat and b.role in REPEAT_ROLES for b in form.binds), (
                f"{bind.nodeset} has an item role outside a plan-item repeat"
            )


@pytest.mark.parametrize(
    ("form_id", "roles"),
    [
        (
            "case_plan",
            {
                "ref",
                "caseworker",
                "event_time",
                "risk",
                "contact_frequency",
                "review_due",
                "care_plan_due",
            },
        ),
        (
            "contact_log",
            {"ref", "event_time", "risk", "next_contact", "close", "outcome", "worker_safe"},
        ),
        (
            "case_conference",
            {
                "ref",
                "event_time",
                "review_due",
                "close",
                "transfer_caseworker",
                "transfer_team",
                "transfer_agency",
                "transfer_reason",
            },
        ),
        ("care_plan", {"ref", "event_time", "care_plan_review"}),
    ],
)
def test_case_fields_carry_their_roles(form_id: str, roles: set[str]) -> None:
    found = {b.role for b in load(form_id).binds if b.role in FIELD_ROLES}
    assert roles <= found


@pytest.mark.parametrize(
    ("form_id", "kinds"),
    [
        ("case_plan", ["need", "service", "action", "existing"]),
        ("contact_log", ["service", "service"]),
        ("case_conference", ["decision"]),
    ],
)
def test_plan_item_repeats_carry_item_roles(form_id: str, kinds: list[str]) -> None:
    form = load(form_id)
    item_repeats = {b.nodeset: b.role for b in form.binds if b.nodeset in form.repeats and b.role}
    assert sorted(item_repeats.values()) == sorted(kinds)
    for repeat in item_repeats:
        roles = [b.role for b in form.binds if form.repeat_of(b.nodeset) == repeat and b.role]
        assert len(roles) == len(set(roles)), f"{repeat}: a role is used twice"
        assert "status" in roles, repeat
        if "item_id" not in roles:
            # A new item needs a name, someone responsible and a deadline.
            assert {"title", "owner", "due"} <= set(roles), repeat


@pytest.mark.parametrize(("form_id", "kind_filter"), [("contact_log", True), ("case_plan", False)])
def test_existing_plan_items_are_picked_from_plan_items_csv(
    form_id: str, kind_filter: bool
) -> None:
    form = load(form_id)
    item_ids = [b for b in form.binds if b.role == "item_id"]
    assert item_ids
    for bind in item_ids:
        body = form.root.find(f"{H}body")
        assert body is not None
        (select,) = [e for e in body.iter(f"{XF}select1") if e.get("ref") == bind.nodeset]
        itemset = select.find(f"{XF}itemset")
        assert itemset is not None
        nodeset = itemset.get("nodeset", "")
        assert nodeset.startswith("instance('plan_items')/root/item[")
        assert ("kind = 'service'" in nodeset) is kind_filter
        assert "case_ref" in nodeset


def _setvalues(form: Form, target: str) -> list[Element]:
    """The actions that fill in ``target`` when another answer changes (column trigger)."""
    return [
        e
        for e in form.root.iter(f"{XF}setvalue")
        if e.get("ref", "").endswith(f"/{target}") and e.get("event") == "xforms-value-changed"
    ]


def test_a_plan_revision_fills_in_the_cases_caseworker() -> None:
    """A supervisor revising a plan on their phone must not become the caseworker."""
    form = load("case_plan")
    triggered = _setvalues(form, "caseworker")
    assert triggered
    for action in triggered:
        value = action.get("value", "")
        assert "'revise'" in value
        assert re.search(
            r"instance\('cases'\)/root/item\[name=\s*/data/about/case\s*\]/caseworker", value
        )
    first_load = [
        e
        for e in form.root.iter(f"{XF}setvalue")
        if e.get("ref") == "/data/about/caseworker" and e.get("event") == "odk-instance-first-load"
    ]
    assert [e.get("value", "").strip() for e in first_load] == ["/data/username"]


def test_a_plan_revision_starts_from_the_items_status_and_due_date() -> None:
    form = load("case_plan")
    for target, column in (("existing_status", "status"), ("existing_due", "due")):
        (action,) = _setvalues(form, target)
        assert action.get("value", "").strip().endswith(f"]/{column}"), target
        assert "instance('plan_items')" in action.get("value", "")
    statuses = {c.get("name") for c in _choices(form, "current_status")}
    assert statuses == _names(form, "item_status") | _names(form, "service_status")


def _choices(form: Form, list_id: str) -> list[dict[str, str | None]]:
    """The rows of one of the form's own choice lists, column -> value."""
    for inst in form.model.iter(f"{XF}instance"):
        if inst.get("id") == list_id:
            return [
                {child.tag.split("}")[-1]: child.text for child in item}
                for item in inst.iter(f"{XF}item")
            ]
    raise AssertionError(list_id)


def _names(form: Form, list_id: str) -> set[str | None]:
    return {c.get("name") for c in _choices(form, list_id)}


@pytest.mark.parametrize(("kind", "key"), [("need", "need_key"), ("service", "service_key")])
def test_new_plan_items_cannot_replace_open_items_already_in_the_plan(kind: str, key: str) -> None:
    form = load("case_plan")
    checks = [
        b.attrib["constraint"]
        for b in form.binds
        if "instance('plan_items')" in b.attrib.get("constraint", "")
        and f"kind = '{kind}'" in b.attrib["constraint"]
    ]
    assert len(checks) == 1
    assert f"key = current()/../{key}" in checks[0]


def test_the_reference_number_hint_and_constraint_agree() -> None:
    form = load("case_plan")
    constraint = form.bind("new_case_ref").attrib["constraint"]
    pattern = re.search(r"regex\(\., '([^']*)'\)", constraint)
    assert pattern is not None
    accepts = re.compile(pattern.group(1))
    for good in ("CP-2026-0042", "cp/2026/42", "A12"):
        assert accepts.fullmatch(good), good
    for bad in ("CP_2026", "CP.2026", "CP 2026", "-CP1", "C1"):
        assert not accepts.fullmatch(bad), bad
    labels = form.result.xform
    assert "letters, digits, '-' or '/'" in labels
    # filed in capitals, and compared in capitals with the cases already on the phone
    upper = "translate( /data/about/new_case_ref , 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')"
    assert upper in form.bind("case_ref").attrib["calculate"]
    assert "translate(case_ref, " in constraint
    assert "translate(current()/., " in constraint


def test_a_referral_at_a_contact_has_a_key_of_its_own() -> None:
    form = load("contact_log")
    key = form.bind("health_key").attrib["calculate"]
    assert "health_referral_id" in key
    assert form.bind("health_referral_id").attrib["calculate"] == "once(uuid())"


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_event_marks_say_yes_on_case_fields(form_id: str) -> None:
    form = load(form_id)
    for bind in form.binds:
        if EVENT in bind.attrib:
            assert bind.attrib[EVENT] == "yes", bind.nodeset
            assert SAVETO in bind.attrib or CASEWORK_SAVETO in bind.attrib, (
                f"{bind.nodeset}: an event mark without save_to"
            )
            assert form.repeat_of(bind.nodeset) is None, bind.nodeset


@pytest.mark.parametrize(
    ("form_id", "fields"),
    [
        (
            "contact_log",
            {"contact_mode", "closure_reason", "consent_change_saved", "consent_changed_on"},
        ),
        ("case_conference", {"outcome", "transfer_to", "closure_reason"}),
    ],
)
def test_what_describes_only_the_event_is_marked(form_id: str, fields: set[str]) -> None:
    assert {b.field for b in load(form_id).binds if EVENT in b.attrib} == fields


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_free_text_owners_are_kept_short(form_id: str) -> None:
    form = load(form_id)
    for bind in form.binds:
        typed = "calculate" not in bind.attrib
        if bind.role == "owner" and typed:
            assert "string-length(.) <= 200" in bind.attrib.get("constraint", ""), bind.nodeset
    if form_id == "case_plan":
        assert "string-length(.) <= 200" in form.bind("service_provider").attrib["constraint"]


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_no_field_is_named_like_a_childs_name(form_id: str) -> None:
    names = {el.tag.split("}")[-1] for el in load(form_id).data.iter()}
    offending = {
        n for n in names - METADATA_NAMES if n.lower() == "name" or n.lower().endswith("name")
    }
    assert not offending, "the case is known by its reference number, never a name"


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_sensitive_marks_say_yes(form_id: str) -> None:
    marks = {b.attrib[SENSITIVE] for b in load(form_id).binds if SENSITIVE in b.attrib}
    assert marks <= {"yes"}


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_no_sensitive_answer_is_written_to_the_phones_case_list(form_id: str) -> None:
    """Collect writes every entities:saveto answer into its own copy of the case: a
    sensitive answer becomes a case field through casework:saveto, on the server only."""
    form = load(form_id)
    marked = [b.nodeset for b in form.binds if b.attrib.get(SENSITIVE) == "yes"]
    for bind in form.binds:
        if any(bind.nodeset == m or bind.nodeset.startswith(f"{m}/") for m in marked):
            assert SAVETO not in bind.attrib, f"{bind.nodeset}: use casework:saveto"
        if CASEWORK_SAVETO in bind.attrib:
            assert form.repeat_of(bind.nodeset) is None, bind.nodeset
            assert bind.attrib[CASEWORK_SAVETO] not in SERVER_CASE_COLUMNS, bind.nodeset


def test_the_safety_plan_is_filed_on_the_case_by_the_server_only() -> None:
    form = load("contact_log")
    for name in ("safety_plan_contacts", "safety_plan_safe_places", "safety_plan_actions"):
        assert form.bind(name).attrib.get(CASEWORK_SAVETO) == name
        assert form.bind(name).attrib.get(SENSITIVE) == "yes"


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_declares_an_entities_version(form_id: str) -> None:
    version = load(form_id).model.get(f"{{{ENTITIES_NS}}}entities-version")
    # One case per submission, in the top-level meta: spec 2024.1 (offline entities).
    assert version == "2024.1.0"


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_entity_is_the_cases_list(form_id: str) -> None:
    form = load(form_id)
    assert form.entity.get("dataset") == "cases"
    for bind in form.binds:
        if SAVETO in bind.attrib:
            assert form.repeat_of(bind.nodeset) is None, "save_to inside a repeat"
            assert bind.attrib[SAVETO] not in SERVER_CASE_COLUMNS, bind.nodeset


def test_case_plan_creates_or_updates_a_case() -> None:
    form = load("case_plan")
    entity = form.entity
    assert entity.get("create") == "1"
    assert entity.get("update") == "1"
    entity_binds = {b.nodeset.rsplit("/", 1)[-1]: b.attrib for b in form.binds}
    assert "plan_type" in entity_binds["@create"]["calculate"]
    assert "plan_type" in entity_binds["@update"]["calculate"]
    assert "@baseVersion" in entity_binds
    assert entity.find(f"{XF}label") is not None


@pytest.mark.parametrize("form_id", ["contact_log", "case_conference", "care_plan"])
def test_follow_up_forms_update_the_selected_case(form_id: str) -> None:
    form = load(form_id)
    assert form.entity.get("update") == "1"
    assert form.entity.get("create") is None
    id_bind = next(b for b in form.binds if b.nodeset.endswith("/meta/entity/@id"))
    assert id_bind.attrib["calculate"].strip() == form.bind("case").nodeset


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_case_list_lookups_use_only_what_cases_csv_carries(form_id: str) -> None:
    form = load(form_id)
    xform = form.result.xform
    lookups = re.findall(r"instance\('cases'\)/root/item\[([^\]]*)\]/(\w+)", xform)
    # contact_frequency_days: the plan's, which the contact log suggests the next contact by;
    # consent_share: the kinds of agency the consent in force covers, which referrals check;
    # approval_comment: why a supervisor returned a plan or closure, shown in a note
    readable = {
        "case_ref",
        "caseworker",
        "contact_frequency_days",
        "consent_share",
        "approval_comment",
    }
    for _, column in lookups:
        assert column in readable | {"__version", "__trunkVersion", "__branchId"}, column
    for itemset in form.root.iter(f"{XF}itemset"):
        nodeset = itemset.get("nodeset", "")
        if nodeset.startswith("instance('cases')"):
            predicate = nodeset.partition("[")[2]
            words = set(re.findall(r"[A-Za-z_]\w*", re.sub(r"'[^']*'", "", predicate)))
            assert words <= {"status", "case_ref", "not", "and", "or"}, nodeset


def _sheet_rows(form_id: str, sheet: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The headings of a sheet of the workbook, and its rows (row number, heading -> text)."""
    book = openpyxl.load_workbook(XLSFORMS / f"{form_id}.xlsx", read_only=True)
    rows = book[sheet].iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows)]
    found = []
    for number, row in enumerate(rows, start=2):
        cells = {h: str(v) for h, v in zip(header, row, strict=False) if h and v is not None}
        found.append((number, cells))
    book.close()
    return header, found


@pytest.mark.parametrize("form_id", FORM_IDS)
@pytest.mark.parametrize("sheet", ["survey", "choices"])
def test_every_text_is_written_in_the_five_languages(form_id: str, sheet: str) -> None:
    header, rows = _sheet_rows(form_id, sheet)
    untranslated = [h for h in header if h in TEXT_COLUMNS]
    assert untranslated == [], f"{sheet}: columns without a language: {untranslated}"
    for heading in header:
        base, _, language = heading.partition("::")
        if base in TEXT_COLUMNS:
            assert language in LANGUAGES, f"{sheet}: {heading!r} is not one of the five"
    missing = []
    for number, cells in rows:
        for base in TEXT_COLUMNS:
            given = {lang for lang in LANGUAGES if cells.get(f"{base}::{lang}", "").strip()}
            if given and given != set(LANGUAGES):
                lacking = ", ".join(f"{base}::{lang}" for lang in LANGUAGES if lang not in given)
                missing.append(f"{sheet} row {number}: {lacking}")
    assert missing == [], "texts not in all five languages:\n" + "\n".join(missing)


@pytest.mark.parametrize("form_id", FORM_IDS)
@pytest.mark.parametrize("sheet", ["survey", "choices"])
def test_translations_keep_references_and_line_breaks(form_id: str, sheet: str) -> None:
    _, rows = _sheet_rows(form_id, sheet)
    wrong = []
    for number, cells in rows:
        for base in TEXT_COLUMNS:
            english = cells.get(f"{base}::{LANGUAGES[0]}")
            if not english:
                continue
            keep = (sorted(re.findall(r"\$\{\w+\}", english)), english.count("<br>"))
            translations = {lang: cells.get(f"{base}::{lang}", "") for lang in LANGUAGES[1:]}
            for lang, text in translations.items():
                if (sorted(re.findall(r"\$\{\w+\}", text)), text.count("<br>")) != keep:
                    wrong.append(f"{sheet} row {number} {base}::{lang}")
            # one language may share a word with English ("Service"), four do so by copying
            if english not in SAME_IN_EVERY_LANGUAGE and set(translations.values()) == {english}:
                wrong.append(f"{sheet} row {number} {base}: the English text copied")
    assert wrong == []


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_english_is_the_default_language(form_id: str) -> None:
    _, rows = _sheet_rows(form_id, "settings")
    assert rows[0][1].get("default_language") == "English (en)"
    translations = load(form_id).model.findall(f"{XF}itext/{XF}translation")
    assert [t.get("lang") for t in translations] == list(LANGUAGES)
    assert [t.get("lang") for t in translations if t.get("default") == "true()"] == [LANGUAGES[0]]


@pytest.mark.parametrize("form_id", FORM_IDS)
def test_the_xform_gives_every_text_in_the_five_languages(form_id: str) -> None:
    """What Collect reads: each text of the form in each language, none left empty or as
    pyxform's "-" for a missing translation."""
    translations = load(form_id).model.findall(f"{XF}itext/{XF}translation")
    texts = {
        t.get("lang"): {
            text.get("id"): "".join(text.find(f"{XF}value").itertext()).strip()  # type: ignore[union-attr]
            for text in t.findall(f"{XF}text")
        }
        for t in translations
    }
    english = texts["English (en)"]
    assert len(english) > 50
    for lang in LANGUAGES[1:]:
        assert set(texts[lang]) == set(english), lang
        blank = [
            i for i, v in texts[lang].items() if v in ("", "-") and english[i] not in ("", "-")
        ]
        assert blank == [], lang
    # every question and choice label is a translated text, none written in one language only
    body = load(form_id).root.find(f"{H}body")
    assert body is not None
    plain = [
        el.text
        for el in body.iter()
        if el.tag in (f"{XF}label", f"{XF}hint") and (el.text or "").strip()
    ]
    assert plain == []


REGISTRATION_FIELDS = (
    "age_years",
    "age_band",
    "sex",
    "wg_seeing",
    "wg_hearing",
    "wg_walking",
    "wg_remembering",
    "wg_selfcare",
    "wg_communicating",
    "admin1",
    "admin2",
    "intake_concern",
)


def test_the_registration_data_reaches_the_case_on_the_server_only() -> None:
    """Age, sex, disability, area and intake concern become case fields through
    casework:saveto: the server files them, the phone's case list never holds them."""
    form = load("case_plan")
    for name in REGISTRATION_FIELDS:
        bind = form.bind(name)
        assert bind.attrib.get(CASEWORK_SAVETO) == name, name
        assert SAVETO not in bind.attrib, name
    assert form.bind("registration").attrib.get("relevant") == " /data/about/plan_type  = 'new'"
    assert form.bind("age_years").attrib.get("constraint") == ". >= 0 and . <= 17"
    # no birth date: the age in years, or a band when it is not known
    assert not [b for b in form.binds if "birth" in b.field or "dob" in b.field]


def test_the_age_bands_and_difficulty_answers_are_the_ones_the_server_reads() -> None:
    """server/cases/registration.py: AGE_BANDS and the Washington Group answers."""
    choices = load("case_plan").result.xform
    for band in ("0-4", "5-9", "10-14", "15-17"):
        assert f"<name>{band}</name>" in choices
    for answer in ("none", "some", "a_lot", "cannot"):
        assert f"<name>{answer}</name>" in choices


def test_the_area_is_a_cascade_over_the_areas_list_shipped_as_media() -> None:
    xml = load("case_plan").result.xform
    assert '<instance id="areas" src="jr://file-csv/areas.csv"/>' in xml
    assert "instance('areas')/root/item[level = '1']" in xml
    assert (
        "instance('areas')/root/item[level = '2' and parent =  /data/registration/admin1 ]" in xml
    )
    with (XLSFORMS / "case_plan-media" / "areas.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {"name", "label", "level", "parent"} <= set(rows[0])
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names))
    regions = {r["name"] for r in rows if r["level"] == "1"}
    districts = [r for r in rows if r["level"] == "2"]
    assert regions
    assert districts
    assert all(r["parent"] in regions for r in districts)


def test_a_referral_made_at_a_contact_names_its_service_category() -> None:
    form = load("contact_log")
    bind = form.bind("service_category")
    assert bind.attrib.get("calculate") == "'health'"
    assert form.repeat_of(bind.nodeset) == "/data/health/health_referral"


def test_a_failed_attempt_skips_the_visit_questions() -> None:
    """The outcome comes before the visit: a failed attempt (no answer, child not present,
    unsafe to talk) asks how it was tried and what happened, and none of the visit."""
    form = load("contact_log")
    order = [b.field for b in form.binds]
    assert order.index("contact_outcome") < order.index("contact_time")
    choices = re.findall(r"<name>([a-z_]+)</name>", form.result.xform)
    assert {"made", "no_answer", "child_not_present", "unsafe_to_talk"} <= set(choices)
    made = "/data/contact_outcome  = 'made'"
    for field in ("contact_mode", "participants", "health", "safety", "assessment", "next"):
        assert made in form.bind(field).attrib["relevant"], field
    for field in ("attempt_mode", "attempt_note", "attempt_not_counted"):
        assert "!= 'made'" in form.bind(field).attrib["relevant"], field
    assert form.bind("attempt_note").attrib.get(SENSITIVE) == "yes"


def test_the_caseworker_says_whether_they_felt_safe() -> None:
    form = load("contact_log")
    felt_safe = form.bind("worker_felt_safe")
    assert felt_safe.role == "worker_safe"
    assert felt_safe.attrib.get("required") == "true()"
    assert "relevant" not in felt_safe.attrib  # asked after a contact and after an attempt
    note = form.bind("worker_safety_note")
    assert note.attrib.get(SENSITIVE) == "yes"
    assert note.attrib.get("required", "false()") == "false()"


def test_the_care_plan_asks_what_the_guidelines_ask_and_the_carer_only_by_role() -> None:
    """Type of care, the carer by role, placement date, the child's and the family's views,
    contact with the family, the goal and the review date (shared/docs/domain.md)."""
    form = load("care_plan")
    arrangements = set(_choice_names(form, "care_arrangement"))
    assert arrangements == {"kinship", "foster", "residential", "supervised_independent", "other"}
    assert "reunification" in _choice_names(form, "care_goal")
    for name in ("carer_role", "placement_date", "child_views", "family_views"):
        assert form.bind(name).attrib.get("required") == "true()", name
    assert form.bind("carer_role").attrib["type"] == "string"  # a choice of roles
    for name in ("child_views", "family_views", "family_contact_notes"):
        assert form.bind(name).attrib.get(SENSITIVE) == "yes", name
    filed = {b.field: b.attrib.get(CASEWORK_SAVETO) for b in form.binds}
    assert filed["care_arrangement"] == "care_arrangement"
    assert filed["carer_role"] == "care_carer"
    assert filed["placement_date"] == "care_placement_date"
    assert filed["care_goal"] == "care_goal"
    assert form.bind("care_review_date").role == "care_plan_review"
    assert not [b for b in form.binds if SAVETO in b.attrib], "nothing of it on the phone"


def _choice_names(form: Form, list_name: str) -> list[str]:
    """The names of the choices of ``list_name`` (the XForm's secondary instance)."""
    instance = next(i for i in form.model.findall(f"{XF}instance") if i.get("id") == list_name)
    return [e.text or "" for e in instance.iter(f"{XF}name")]
