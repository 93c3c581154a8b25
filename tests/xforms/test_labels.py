"""The words of the real case-work forms, per language, read from their XForms."""

from __future__ import annotations

import pytest

from server.xforms import labels
from tests.realforms import xform


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    labels.clear()


def test_question_and_choice_labels_come_in_the_default_language() -> None:
    found = labels.labels_for(1, xform("contact_log"), None)
    assert found.language == "English (en)"
    assert found.label("contact_mode") == "How did the contact take place?"
    assert found.choice("contact_mode", "home_visit") == "Home visit"
    assert found.label("health") == "Health of the household"


def test_the_users_language_is_chosen_when_the_form_has_it() -> None:
    found = labels.labels_for(1, xform("contact_log"), "fr")
    assert found.language == "French (fr)"
    assert found.choice("contact_mode", "home_visit") == "Visite à domicile"
    assert found.label("contact_mode") != "How did the contact take place?"


def test_a_language_the_form_lacks_falls_back_to_the_forms_default() -> None:
    found = labels.labels_for(1, xform("contact_log"), "de")
    assert found.language == "English (en)"
    assert found.choice("contact_mode", "home_visit") == "Home visit"


def test_groups_and_repeats_keep_their_structure() -> None:
    found = labels.labels_for(1, xform("case_conference"), None)
    decision = found.question("decisions_group/decisions/decision_text")
    assert decision is not None
    assert decision.parent == "decisions_group/decisions"
    assert decision.repeat == "decisions_group/decisions"
    repeat = found.question("decisions_group/decisions")
    assert repeat is not None
    assert repeat.kind == "repeat"
    assert repeat.label == "Decision"


def test_calculations_notes_hidden_fields_and_metadata_are_not_asked() -> None:
    found = labels.labels_for(1, xform("case_conference"), None)
    assert found.question("meta/instanceID") is None
    for path in ("case_ref", "start", "outcome_group/close_case", "decisions_group/decisions_note"):
        question = found.question(path)
        assert question is not None
        assert not question.is_asked, path
    discussion = found.question("discussion")
    assert discussion is not None
    assert discussion.is_asked


def test_a_version_is_read_once_and_then_served_from_memory() -> None:
    labels.labels_for(7, xform("case_plan"), None, "abc")
    assert labels.cached(7, "abc")
    again = labels.labels_for(7, None, "es", "abc")
    assert again.language == "Spanish (es)"
    with pytest.raises(KeyError):
        labels.labels_for(8, None, None)
    # the same id with another XForm (another database) is read afresh
    assert not labels.cached(7, "def")
    other = labels.labels_for(7, xform("contact_log"), None, "def")
    assert other.form_id == "contact_log"
