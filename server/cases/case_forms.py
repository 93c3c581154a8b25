"""The case file's words: every form in a case's history as its filled form, the case's
fields under their questions' labels, plan item kinds and statuses as the forms name them,
and the risk level's history, in the reader's language.

Built from :class:`~server.cases.case_file.CaseDetail` with one query for the answers of
every submission in the history (and of the versions the edits replaced: as parsed from
their stored XML on arrival, so the page does not parse the XML again), one for the
versions' MD5s and one for the XForms of those this process has not read yet
(``server.xforms.labels`` keeps them), and one for the names of the services the answers
chose: however long the history, five queries at most.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.cases.case_file import CaseDetail, TimelineEntry
from server.cases.mapping import case_property_of
from server.services import queries as service_queries
from server.submissions import queries as submission_queries
from server.submissions.filled import FilledForm, fill_data, values_for_list
from server.submissions.parse import DataNode
from server.xforms import labels as form_labels
from server.xforms import queries as xform_queries
from server.xforms.labels import FormLabels

# The lists whose choices are the server's data, not the form's: the phone's case list,
# the plan items list and the services directory (``cases.device_lists``).
CASES_LIST = "cases"
PLAN_ITEMS_LIST = "plan_items"
SERVICES_LIST = "services"
# The care plan in force, as the care plan form files it on the case (xlsforms/README.md),
# in the order the case file shows it.
CARE_PLAN_FIELDS = (
    "care_arrangement",
    "care_carer",
    "care_placement_date",
    "care_goal",
    "care_plan_review_date",
)


@dataclass(frozen=True)
class CaseField:
    """One case field, under the label of the question that set it."""

    name: str  # the stored name (shown only with the provenance)
    label: str
    value: Any  # in words when the answer was a choice
    by: str | None = None
    at: Any = None
    instance_id: str | None = None


@dataclass(frozen=True)
class RiskChange:
    at: datetime
    level: str  # in words
    by: str | None


@dataclass(frozen=True)
class CaseForms:
    filled: dict[int, FilledForm]  # by submission id
    fields: tuple[CaseField, ...]
    risk: str  # the case's risk level, in words ("" when none)
    risk_history: tuple[RiskChange, ...]
    item_kinds: dict[str, str] = field(default_factory=dict)  # kind -> the forms' words
    # kind -> status -> the forms' words
    item_statuses: dict[str, dict[str, str]] = field(default_factory=dict)
    # "form_id:path" of each sensitive answer the filled forms show, for the audit log
    sensitive_read: tuple[str, ...] = ()
    # case field -> its question's choices, value -> words
    field_choices: dict[str, dict[str, str]] = field(default_factory=dict)

    def field_value(self, name: str, value: Any) -> Any:
        """A value of the case field ``name`` in words when its question offers it as a
        choice (a conflict's candidates, a supervisor's choice); else as it is."""
        choices = self.field_choices.get(name)
        if not choices or value in (None, ""):
            return value
        return ", ".join(choices.get(v, v) for v in str(value).split())

    def item_status(self, kind: str, status: str) -> str | None:
        """A plan item's status as the form that makes items of its kind words it."""
        return self.item_statuses.get(kind, {}).get(status) or self.item_statuses.get("", {}).get(
            status
        )

    def care_plan(self) -> tuple[CaseField, ...]:
        """The care plan in force: the fields the latest care plan filed, in order."""
        by_name = {f.name: f for f in self.fields}
        return tuple(by_name[n] for n in CARE_PLAN_FIELDS if n in by_name)

    def field_label(self, name: str) -> str:
        return next((f.label for f in self.fields if f.name == name), _readable(name))


def _readable(name: str) -> str:
    """A stored name no form labels any more, as words ("last_contact_mode" -> "Last contact
    mode")."""
    return name.replace("_", " ").strip().capitalize()


def read_case_forms(session: Session, detail: CaseDetail, language: str | None) -> CaseForms:
    """The case file's words for ``detail``, in ``language`` (a locale code: "fr") where the
    forms have it, else in each form's default language."""
    entries = [e for e in detail.timeline if e.version_id is not None]
    words = _labels(session, {e.version_id for e in entries if e.version_id}, language)
    parsed = submission_queries.list_answers(
        session,
        [e.submission_id for e in entries if not e.is_encrypted],
        [e.deprecated_id for e in entries if e.deprecated_id and not e.is_encrypted],
    )
    services: set[str] = set()
    for e in entries:
        data = parsed.get(e.instance_id)
        if data is not None and e.version_id in words:
            services |= values_for_list(data, words[e.version_id], SERVICES_LIST)
    lookups: dict[str, Mapping[str, str]] = {
        CASES_LIST: {detail.case.entity_id: detail.case.case_ref},
        PLAN_ITEMS_LIST: {i.item_id: i.title for i in detail.plan_items if i.title},
        SERVICES_LIST: service_queries.get_service_names(session, services),
    }
    filled: dict[int, FilledForm] = {}
    sensitive: set[str] = set()
    for e in entries:
        form = _fill(e, parsed, words, lookups)
        if form is not None:
            filled[e.submission_id] = form
            sensitive |= {f"{e.form_id}:{path}" for path in form.sensitive_read}
    # A later version's words win, and the registering form's (the case plan) over those
    # of the forms that follow it up.
    registering = {e.form_id for e in entries if e.is_registration}
    ordered = sorted(
        words.values(),
        key=lambda w: (w.is_registration or w.form_id in registering, w.version_id),
    )
    return CaseForms(
        filled=filled,
        fields=_fields(detail, ordered),
        risk=_risk_words(ordered).get(str(detail.case.risk_level or ""), "")
        if detail.case.risk_level
        else "",
        risk_history=_risk_history(detail.timeline, _risk_words(ordered)),
        item_kinds=_item_kinds(ordered),
        item_statuses=_item_statuses(ordered),
        sensitive_read=tuple(sorted(sensitive)),
        field_choices={
            name: dict(version.choices.get(list_id, {}))
            for name, (_label, version, list_id) in _property_questions(ordered).items()
            if list_id
        },
    )


def _labels(session: Session, version_ids: set[int], language: str | None) -> dict[int, FormLabels]:
    return _labels_of(
        session, xform_queries.list_version_md5(session, sorted(version_ids)), language
    )


def _labels_of(
    session: Session, md5: Mapping[int, str], language: str | None
) -> dict[int, FormLabels]:
    """The words of the versions ``md5`` names (id -> MD5), reading the XForms only of
    those this process has not read yet."""
    missing = [v for v, m in sorted(md5.items()) if not form_labels.cached(v, m)]
    xml = xform_queries.list_version_xml(session, missing)
    out = {}
    for v, m in sorted(md5.items()):
        if form_labels.cached(v, m) or v in xml:
            out[v] = form_labels.labels_for(v, xml.get(v), language, m)
    return out


def _fill(
    e: TimelineEntry,
    parsed: Mapping[str, DataNode | None],
    words: Mapping[int, FormLabels],
    lookups: Mapping[str, Mapping[str, str]],
) -> FilledForm | None:
    data = parsed.get(e.instance_id)
    if data is None or e.version_id is None or e.version_id not in words:
        return None
    previous = parsed.get(e.deprecated_id) if e.deprecated_id else None
    return fill_data(data, words[e.version_id], previous=previous, lookups=lookups)


def _property_questions(ordered: list[FormLabels]) -> dict[str, tuple[str, FormLabels, str | None]]:
    """case property -> (label, the version's words, its choice list)."""
    out: dict[str, tuple[str, FormLabels, str | None]] = {}
    for words in ordered:
        for q in words.questions:
            if q.kind != "field" or q.repeat is not None:
                continue
            name = case_property_of(q.role, q.save_to)
            if name and q.label:
                out[name] = (q.label, words, q.choice_list)
    return out


def _fields(detail: CaseDetail, ordered: list[FormLabels]) -> tuple[CaseField, ...]:
    questions = _property_questions(ordered)
    out = []
    for name, value in sorted((detail.case.properties or {}).items()):
        label, words, list_id = questions.get(name, (_readable(name), None, None))
        shown = value
        if words is not None and list_id and value not in (None, ""):
            shown = ", ".join(words.choice(list_id, str(v)) for v in str(value).split())
        p = (detail.case.provenance or {}).get(name, {})
        out.append(
            CaseField(
                name=name,
                label=label,
                value=shown,
                by=p.get("user"),
                at=p.get("at"),
                instance_id=p.get("instance_id"),
            )
        )
    return tuple(out)


def _choices_of(ordered: list[FormLabels], wanted: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for words in ordered:
        lists = {q.choice_list for q in words.questions if q.choice_list and q.role in wanted}
        for list_id in sorted(lists):
            out.update(words.choices.get(list_id, {}))
    return out


def _risk_words(ordered: list[FormLabels]) -> dict[str, str]:
    return _choices_of(ordered, {"risk"})


def _item_statuses(ordered: list[FormLabels]) -> dict[str, dict[str, str]]:
    """kind -> status -> words, from the status question of the repeat that makes items of
    that kind ("" -> the words of any status, for a kind no repeat names)."""
    out: dict[str, dict[str, str]] = {"": _choices_of(ordered, {"status"})}
    for words in ordered:
        kinds = {q.path: q.role for q in words.questions if q.kind == "repeat" and q.role}
        for q in words.questions:
            kind = kinds.get(q.repeat or "")
            if q.role == "status" and kind and q.choice_list:
                out[kind] = dict(words.choices.get(q.choice_list, {}))
    return out


def _item_kinds(ordered: list[FormLabels]) -> dict[str, str]:
    out: dict[str, str] = {}
    for words in ordered:
        for q in words.questions:
            if q.kind == "repeat" and q.role and q.label:
                out[q.role] = q.label
    return out


def _risk_history(
    timeline: list[TimelineEntry], risk_words: Mapping[str, str]
) -> tuple[RiskChange, ...]:
    """Each time a form set the risk level to another level, in the order of events."""
    out: list[RiskChange] = []
    last = None
    for e in timeline:
        level = e.changes.get("risk_level")
        if e.state not in ("applied",) or level in (None, "") or level == last:
            continue
        last = level
        out.append(RiskChange(e.event_at, risk_words.get(str(level), str(level)), e.submitter))
    return tuple(out)


@dataclass(frozen=True)
class FormWords:
    """What the forms in use call the codes that lists show: plan item kinds and statuses,
    risk levels and contact frequencies, in one language (the choice labels and repeat
    labels of every form's current version; the registering form's words win)."""

    item_kinds: Mapping[str, str] = field(default_factory=dict)
    item_statuses: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    risk_levels: Mapping[str, str] = field(default_factory=dict)
    frequencies: Mapping[str, str] = field(default_factory=dict)

    def kind(self, kind: str) -> str | None:
        return self.item_kinds.get(kind)

    def status(self, kind: str, status: str) -> str | None:
        """A plan item's status as the form that makes items of its kind words it."""
        return self.item_statuses.get(kind, {}).get(status) or self.item_statuses.get("", {}).get(
            status
        )

    def risk(self, level: str | None) -> str | None:
        return self.risk_levels.get(level) if level else None

    def frequency(self, value: Any) -> str | None:
        return self.frequencies.get(str(value)) if value not in (None, "") else None


def form_words(words: list[FormLabels]) -> FormWords:
    """Pure: the list words of these versions' labels (registering forms' last, so they
    win; then newer over older)."""
    ordered = sorted(words, key=lambda w: (w.is_registration, w.version_id))
    return FormWords(
        item_kinds=_item_kinds(ordered),
        item_statuses=_item_statuses(ordered),
        risk_levels=_risk_words(ordered),
        frequencies=_choices_of(ordered, {"contact_frequency"}),
    )


def read_current_labels(session: Session, language: str | None) -> dict[str, FormLabels]:
    """The words of every form's current version in ``language``, by form ID (one query
    for the versions; their XForms are read once per process)."""
    md5 = xform_queries.list_current_version_md5(session)
    return {w.form_id: w for w in _labels_of(session, md5, language).values()}


# (the current versions and their MD5s, language) -> words: a page asks one light query
# for the current versions, then reads everything else from memory.
_words: dict[tuple[tuple[tuple[int, str], ...], str | None], FormWords] = {}
_words_lock = threading.Lock()


def read_form_words(session: Session, language: str | None) -> FormWords:
    """The words lists show for codes, from every form's current version, in ``language``
    (a locale code, "fr") where the forms have it. One query for the current versions;
    their XForms are read once per process (``server.xforms.labels``)."""
    md5 = xform_queries.list_current_version_md5(session)
    key = (tuple(sorted(md5.items())), language)
    with _words_lock:
        found = _words.get(key)
    if found is not None:
        return found
    found = form_words(list(_labels_of(session, md5, language).values()))
    with _words_lock:
        if len(_words) >= form_labels.MAX_CACHED:
            _words.clear()
        _words[key] = found
    return found
