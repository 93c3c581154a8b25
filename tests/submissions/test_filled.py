"""A submission as a person reads it, from the real case-work forms' answers."""

from __future__ import annotations

import uuid

import pytest

from server.submissions.filled import Answer, FilledForm, RepeatTable, Section, fill
from server.xforms import labels
from tests import realforms
from tests.collect import fill_instance
from tests.factories import xform_from_md
from tests.realforms import xform

ENTITY = str(uuid.uuid4())


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    labels.clear()


def _words(form_id: str, language: str | None = None) -> labels.FormLabels:
    return labels.labels_for(
        {"contact_log": 1, "case_conference": 2}[form_id], xform(form_id), language
    )


def _section(form: FilledForm, label: str) -> Section:
    return next(s for s in form.sections if s.label == label)


def _answers(section: Section) -> dict[str, str]:
    return {i.label: i.value.text for i in section.items if isinstance(i, Answer)}


def _contact(**kwargs: object) -> bytes:
    return realforms.contact_log(
        "CP-1",
        ENTITY,
        base_version=1,
        contact_time="2026-12-01T10:00:00.000+03:00",
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_contact_shows_its_groups_with_labels_and_choices_in_words() -> None:
    form = fill(_contact(), _words("contact_log"), lookups={"cases": {ENTITY: "CP-1"}})
    first = form.sections[0]
    assert first.label == ""
    top = _answers(first)
    assert top["How did the contact take place?"] == "Home visit"
    assert top["Case reference number"] == "CP-1"
    assert top["Date and time of the contact"] == "2026-12-01T10:00:00.000+03:00"
    assert [i.value.type for i in first.items if i.label == "Date and time of the contact"] == [
        "dateTime"
    ]
    safety = _answers(_section(form, "Safety plan"))
    assert safety["Safe adults and safe places"] == "Neighbour's house"


def test_select_multiple_answers_are_each_in_words() -> None:
    form = fill(_contact(), _words("contact_log"))
    top = {k: v for s in form.sections for k, v in _answers(s).items()}
    assert top["Key messages given"] == "Safety, How to access services"
    assert top["Who took part?"] == "The child, Mother"
    channels = _answers(_section(form, "Reassurance and communication"))
    assert channels["How did you agree to communicate with them until the next contact?"] == (
        "Phone call, Messaging (SMS, WhatsApp...)"
    )


def test_only_answered_questions_no_metadata_or_calculations() -> None:
    form = fill(_contact(), _words("contact_log"))
    shown = {i.label for s in form.sections for i in s.items}
    assert "Closure notes" not in shown  # not answered
    assert "instanceID" not in shown
    assert "case_ref" not in shown  # a calculation
    assert "username" not in shown
    texts = {i.value.text for s in form.sections for i in s.items if isinstance(i, Answer)}
    assert not any(t.startswith("uuid:") for t in texts)


def test_a_conference_shows_participants_and_decisions_as_tables_in_french() -> None:
    xml = realforms.case_conference(
        "CP-1",
        ENTITY,
        base_version=2,
        decisions=[("Enrol in school", "Teacher", "2027-01-10", "planned")],
    )
    form = fill(xml, _words("case_conference", "fr"))
    tables = [i for s in form.sections for i in s.items if isinstance(i, RepeatTable)]
    assert len(tables) == 2
    participants, decisions = tables
    assert len(participants.rows) == 2
    assert decisions.rows[0][0] is not None
    assert decisions.rows[0][0].text == "Enrol in school"
    assert "District Health Office" in {v.text for row in participants.rows for v in row if v}
    english = fill(xml, _words("case_conference"))
    assert english.sections != form.sections  # the labels are French
    top = {
        i.label: i.value.text for s in english.sections for i in s.items if isinstance(i, Answer)
    }
    assert top["Summary of the discussion"] == "Progress reviewed; school attendance discussed."


def test_an_edit_names_what_it_changed() -> None:
    words = _words("contact_log")
    first = _contact(risk="medium")
    edit = _contact(risk="high")
    form = fill(edit, words, previous_xml=first)
    assert form.is_edit
    assert form.changed == ("Risk level now",)
    changed = [
        i for s in form.sections for i in s.items if isinstance(i, Answer) and i.value.is_changed
    ]
    assert [i.label for i in changed] == ["Risk level now"]
    assert fill(first, words).changed == ()
    assert not fill(first, words).is_edit


def test_a_repeat_row_that_changed_is_marked() -> None:
    words = _words("case_conference")
    before = realforms.case_conference(
        "CP-1", ENTITY, base_version=2, decisions=[("Enrol", "Teacher", "2027-01-10", "planned")]
    )
    after = realforms.case_conference(
        "CP-1", ENTITY, base_version=2, decisions=[("Enrol", "Teacher", "2027-01-10", "done")]
    )
    form = fill(after, words, previous_xml=before)
    decisions = next(
        i
        for s in form.sections
        for i in s.items
        if isinstance(i, RepeatTable) and i.label == "Decision"
    )
    assert decisions.is_changed
    assert form.changed == ("Status",)


PHOTO_FORM = """
| survey |
| | type | name | label | calculation |
| | image | photo | Photo of the house | |
| | calculate | total | | 1 + 1 |
| | begin group | family | Family | |
| | begin repeat | member | Member | |
| | text | who | Who | |
| | image | face | Picture | |
| | end repeat | | | |
| | end group | | | |
"""


def test_files_are_named_for_their_links() -> None:
    xml_form = xform_from_md(PHOTO_FORM)
    words = labels.labels_for(99, xml_form, None)
    xml = fill_instance(
        xml_form,
        {
            "photo": "house.jpg",
            "total": "2",
            "family": {"member": [{"who": "Aunt", "face": "aunt.png"}]},
        },
    )
    form = fill(xml, words)
    photo = next(i for i in form.sections[0].items if isinstance(i, Answer))
    assert photo.label == "Photo of the house"
    assert photo.value.attachment == "house.jpg"
    table = next(i for i in form.sections[1].items if isinstance(i, RepeatTable))
    assert table.columns == ("Who", "Picture")
    cell = table.rows[0][1]
    assert cell is not None
    assert cell.attachment == "aunt.png"
    assert form.attachments == ("house.jpg", "aunt.png")
    assert "2" not in {
        i.value.text for s in form.sections for i in s.items if isinstance(i, Answer)
    }
