"""XForm -> FormDefinition, and pyxform problems located by sheet/row/column. Pure."""

from __future__ import annotations

import dataclasses
import json

import pytest

from server.errors import AppError
from server.xforms.convert import convert_xlsform, locate, validate_xform
from server.xforms.definition import (
    DefinitionError,
    FormDefinition,
    FormKind,
    parse_definition,
    pick_label,
)
from tests.factories import xform_from_md
from tests.realforms import definition, xform, xlsform_bytes

FORM = """
| settings |
| | form_id | version | namespaces | default_language |
| | t1 | 7 | casework="urn:casework:xforms" | English (en) |
| survey |
| | type | name | label::English (en) | label::Français (fr) | save_to | bind::casework:role | bind::casework:sensitive |
| | select_one_from_file cases.csv | case | Case | Dossier | | | |
| | select_one yn | ok | OK? | D'accord ? | | | |
| | begin_group | g | G | G | | | |
| | text | note1 | Note | Note | notes | | yes |
| | end_group | | | | | | |
| | begin_repeat | needs | Needs | Besoins | | need | |
| | text | need | Need | Besoin | | title | |
| | image | photo | Photo | Photo | | | |
| | end_repeat | | | | | | |
| choices |
| | list_name | name | label::English (en) | label::Français (fr) |
| | yn | yes | Yes | Oui |
| | yn | no | No | Non |
| entities |
| | list_name | label | entity_id |
| | cases | ${case} | ${case} |
"""


SIMPLE = """
| settings |
| | form_id | version |
| | t2 | 1 |
| survey |
| | type | name | label |
| | text | note1 | Note |
"""


def test_fields_roles_labels_choices_and_entities():
    d = parse_definition(xform_from_md(FORM))
    assert (d.form_id, d.version) == ("t1", "7")
    note = d.field("g/note1")
    assert note is not None
    assert note.save_to == "notes"
    assert note.is_sensitive
    needs = d.field("needs")
    assert needs is not None
    assert needs.kind == "repeat"
    assert needs.role == "need"
    assert d.field("needs/need").repeat == "needs"
    assert d.field("needs/photo").type == "binary"
    assert d.field("case").choice_file == "cases.csv"
    assert d.field("ok").labels["Français (fr)"] == "D'accord ?"
    assert [c.value for c in d.choices["yn"]] == ["yes", "no"]
    assert d.entities[0].dataset == "cases"
    assert d.entities[0].can_update
    assert "cases.csv" in d.media_files
    assert FormDefinition.from_json(d.to_json()) == d


def test_real_forms_declare_their_case_roles():
    for form_id in ("case_plan", "contact_log", "case_conference"):
        d = parse_definition(xform(form_id))
        assert len(d.with_role("ref")) == 1, form_id
        assert d.entities
        assert d.entities[0].dataset == "cases"


@pytest.mark.parametrize("form_id", ["case_plan", "contact_log", "case_conference", "care_plan"])
def test_a_definition_is_stored_as_asdict_makes_it_and_read_back_whole(form_id: str):
    d = definition(form_id)
    stored = d.to_json()
    assert stored == dataclasses.asdict(d)
    assert FormDefinition.from_json(json.loads(json.dumps(stored))) == d
    # a copy: changing what was stored leaves the definition as it was
    stored["fields"][0]["labels"]["x"] = "changed"
    assert "x" not in d.fields[0].labels


def test_the_default_language_is_the_one_the_form_names():
    d = parse_definition(xform_from_md(FORM))
    assert d.default_language == "English (en)"
    ok = d.field("ok")
    assert ok is not None
    assert d.label(ok.labels) == "OK?"
    assert d.label(ok.labels, "Français (fr)") == "D'accord ?"
    assert d.label(ok.labels, "Deutsch (de)") == "OK?"

    french_first = parse_definition(
        xform_from_md(FORM.replace("| English (en) |", "| Français (fr) |", 1))
    )
    assert french_first.default_language == "Français (fr)"
    assert french_first.label(ok.labels) == "D'accord ?"


def test_a_label_is_chosen_by_language_never_by_the_order_of_its_keys():
    # PostgreSQL's JSONB keeps an object's keys shortest first: Arabic before English
    stored = {"Arabic (ar)": "نعم", "French (fr)": "Oui", "English (en)": "Yes"}
    assert pick_label(stored, None, "English (en)") == "Yes"
    assert pick_label(stored, "French (fr)", "English (en)") == "Oui"
    assert pick_label({"default": "Yes"}, "French (fr)", "English (en)") == "Yes"
    assert pick_label({"Spanish (es)": "Sí", "Arabic (ar)": "نعم"}) == "نعم"  # by name
    assert pick_label({}) == ""


def test_a_definition_stored_before_the_default_language_was_kept_takes_the_first():
    d = parse_definition(xform_from_md(FORM))
    old = d.to_json()
    del old["default_language"]
    assert FormDefinition.from_json(old).default_language == "English (en)"
    untranslated = parse_definition(xform_from_md(SIMPLE)).to_json()
    del untranslated["default_language"]
    assert FormDefinition.from_json(untranslated).default_language is None


@pytest.mark.parametrize(
    ("wanted", "found"),
    [
        ("Français (fr)", "Français (fr)"),
        ("français (FR)", "Français (fr)"),
        ("fr", "Français (fr)"),
        ("fr-CA", "Français (fr)"),
        ("en", "English (en)"),
        ("de", None),
        ("French", None),
    ],
)
def test_a_language_is_named_as_the_form_does_or_by_its_code(wanted: str, found: str | None):
    assert parse_definition(xform_from_md(FORM)).language_named(wanted) == found


@pytest.mark.parametrize("form_id", ["case_plan", "contact_log", "case_conference"])
def test_the_real_forms_label_in_five_languages_english_first(form_id: str):
    d = definition(form_id)
    assert d.languages == (
        "English (en)",
        "French (fr)",
        "Spanish (es)",
        "Arabic (ar)",
        "Portuguese (pt)",
    )
    assert d.default_language == "English (en)"
    case = next(f for f in d.fields if f.name == "case")
    assert d.label(case.labels) == "Case reference number"
    assert d.label(case.labels, d.language_named("ar")) == "الرقم المرجعي للحالة"
    yes = next(c for c in d.choices["yes_no"] if c.value == "yes")
    assert [
        d.label(yes.labels, d.language_named(code)) for code in ("en", "fr", "es", "ar", "pt")
    ] == [
        "Yes",
        "Oui",
        "Sí",
        "نعم",
        "Sim",
    ]


def test_messages_are_located_in_the_spreadsheet():
    p = locate("[row : 12] On the 'survey' sheet, the 'save_to' value is invalid.")
    assert (p.sheet, p.row, p.column) == ("survey", 12, "save_to")
    p = locate("[row : 3] List name not in choices sheet: colours")
    assert (p.sheet, p.row, p.column) == ("survey", 3, "type")


def test_a_real_spreadsheet_converts_without_warnings():
    build = convert_xlsform(xlsform_bytes("contact_log"), "contact_log.xlsx", validate=False)
    assert build.warnings == ()


def test_odk_validate_refuses_what_collect_cannot_open():
    import os
    import shutil

    if shutil.which("java") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("java is required in CI to run ODK Validate")
        pytest.skip("java is not installed (make test installs it)")
    broken = xform_from_md(FORM).replace('calculate=" /data/case "', 'calculate="nope(1)"')
    broken = broken.replace(
        '<bind nodeset="/data/ok"', '<bind calculate="nofunc()" nodeset="/data/ok"'
    )
    with pytest.raises(AppError) as caught:
        validate_xform(broken)
    assert caught.value.code == "xform.validate_failed"
    assert caught.value.details["problems"][0]["source"] == "odk-validate"


def test_media_names_run_to_the_end_of_the_jr_uri():
    md = """
| settings |
| | form_id | version |
| | m | 1 |
| survey |
| | type | name | label | media::image | media::audio | default |
| | note | intro | Welcome | my logo.png | صوت 1.mp3 | |
| | note | odd | Odd | 50% & <more>.png | | |
| | select_one_from_file my_list.csv | pick | Pick | | | |
| | image | pic | Picture | | | default pic.jpg |
"""
    d = parse_definition(xform_from_md(md))
    assert d.media_files == (
        "50% & <more>.png",
        "default pic.jpg",
        "my logo.png",
        "my_list.csv",
        "صوت 1.mp3",
    )


def test_media_names_are_whole_values_without_a_directory():
    xml = xform_from_md(
        """
| settings |
| | form_id | version |
| | m | 1 |
| survey |
| | type | name | label | media::image |
| | note | a | A | a.png |
"""
    )
    xml = xml.replace("jr://images/a.png", "jr://images/sub/a.png").replace(
        "<h:title>", '<h:title data-x="see jr://images/b.png">'
    )
    assert parse_definition(xml).media_files == ()


def _kind_form(form_id: str, kind: str) -> str:
    column = " attribute::casework:kind |" if kind else ""
    value = f" {kind} |" if kind else ""
    return (
        "| settings |\n"
        f"| | form_id | version | namespaces |{column}\n"
        f'| | {form_id} | 1 | casework="urn:casework:xforms" |{value}\n'
        "| survey |\n| | type | name | label |\n| | date | next | Next | \n"
    )


@pytest.mark.parametrize(
    ("form_id", "kind", "expected"),
    [
        ("home_visit", "contact", FormKind.CONTACT),  # declared: the ID says nothing
        ("contact_notes", "other", FormKind.OTHER),  # the ID no longer decides
        ("panel", "conference", FormKind.CONFERENCE),
        ("case_plan", "", FormKind.REGISTRATION),  # undeclared: the rule forms had before
        ("contact_log", "", FormKind.CONTACT),
        ("anything", "", FormKind.OTHER),
    ],
)
def test_a_forms_kind_is_declared_in_its_settings(
    form_id: str, kind: str, expected: FormKind
) -> None:
    definition = parse_definition(xform_from_md(_kind_form(form_id, kind)))
    assert definition.kind is expected
    assert FormDefinition.from_json(definition.to_json()).kind is expected


def test_a_definition_stored_before_kinds_takes_the_undeclared_rule() -> None:
    stored = parse_definition(xform_from_md(_kind_form("contact_log", ""))).to_json()
    del stored["kind"]
    assert FormDefinition.from_json(stored).kind is FormKind.CONTACT


def test_an_unknown_kind_is_refused_at_publish() -> None:
    with pytest.raises(DefinitionError, match="casework:kind 'visit' is not one of"):
        parse_definition(xform_from_md(_kind_form("f", "visit")))


@pytest.mark.parametrize(
    ("form_id", "kind"),
    [("case_plan", "registration"), ("contact_log", "contact"), ("case_conference", "conference")],
)
def test_the_case_work_forms_declare_their_kind(form_id: str, kind: str) -> None:
    assert definition(form_id).kind == kind
    assert f'casework:kind="{kind}"' in xform(form_id)
