"""FormDefinition + SubmissionEnvelope -> CaseUpdate: what one submission says about a case.

Pure: no Flask, no database. The result is stored as JSON on the submission's
``CaseContribution`` and is the only input ``cases.merge`` reads, so merging never looks at
the XML again.

Rules (the spreadsheet contract of ``xlsforms/``):

* A form takes part in case work when one of its fields has ``casework:role="ref"``. The
  reference number is filed in its canonical form: trimmed, inner spaces collapsed,
  upper-case (``cp-1`` and ``CP-1`` are one case). A number a person types (a supervisor
  linking a submission or re-registering a duplicate) and a number looked up (case pages,
  the API) are read the same way; a new one must also pass the case plan form's
  constraint (:func:`is_valid_ref`).
* ``entities:saveto="X"`` on a top-level field makes its answer case property ``X``; so does
  ``casework:saveto="X"``, which Collect does not write into the phone's own case list (how
  a sensitive answer becomes a case field: ``FieldDef.save_to`` holds either).
* A field with a role is stored once, under the role's case field (whatever its
  ``save_to``): ``risk`` -> ``risk_level`` (lower-case), ``contact_frequency`` ->
  ``contact_frequency_days`` (whole days), ``next_contact`` -> ``next_contact_date``,
  ``review_due`` -> ``review_date`` and ``care_plan_review`` -> ``care_plan_review_date``
  (ISO dates), ``caseworker`` -> ``caseworker``.
* The care plan is a plan item (:func:`_care_plan_items`): a ``care_plan_due`` date makes
  it due; a form of kind ``care_plan`` makes it done and its review due.
* The event time (``event_time``, else the form's ``end`` or ``start``: ``cases.event_time``)
  comes from the phone's clock. One later than the time the server received the submission
  plus a tolerance (24 hours unless the settings say otherwise) is the received time.
* Event fields describe the event itself, not the child's situation: those marked
  ``casework:event="yes"``, and those with the roles ``next_contact``, ``review_due`` and
  ``event_time``. The merge lets the latest event win them and never flags a conflict.
* Blank answers are "not said", never "clear the value": a contact log that does not ask
  about risk must not wipe the risk level a plan set.
* A repeat whose role is ``need``, ``service``, ``action`` or ``decision`` holds plan items;
  one whose role is ``existing`` updates items already in the plan, of any kind, each
  picked by its ``item_id``. A contact form changes an item of the plan only by picking
  it: the items it makes (a referral) get keys of their own, prefixed ``contact:``. Each
  repeat entry is its own item, so one contact can make several referrals, each to a
  directory service or to a provider named in free text (then its ``owner``).
* The role ``outcome`` says whether the contact took place: an answer other than ``made``
  is a failed attempt (``no_answer``, ``child_not_present``, ``unsafe_to_talk``). A failed
  attempt is a record of the event only: it is not a contact and says nothing about the
  case (no field, item or closure), so the case stays due. A form without the role, or a
  blank answer, is a contact as before.
* The role ``worker_safe``: the answer ``no`` says the caseworker did not feel safe, which
  alerts the supervisor, after a contact or an attempt alike.

Total: no answer makes the mapping raise. An answer a role cannot read (a date that is not a
date, a frequency that is not a whole number of days, an id or code longer than the
database keeps) is not said; the raw answer stays with the stored submission.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from server.cases.event_time import (
    aware,
    bounded_by_receipt,
    event_time,
    first_answer,
    parse_date,
)
from server.submissions.parse import DataNode, EntityBlock, SubmissionEnvelope, values_at
from server.xforms.definition import FormDefinition, FormKind

# Fixed forever: plan item ids derived from it are stored on devices and in the database.
ITEM_NAMESPACE = uuid.UUID("5b0f7c55-2a4e-4c1b-9e57-0c4a6f3f8d21")
CASE_DATASET = "cases"
ITEM_KINDS = ("need", "service", "action", "decision")
# A repeat of items already in the plan, of any kind, each picked by ``item_id``.
EXISTING_ITEMS = "existing"
# The keys of items a contact makes (not picked by ``item_id``) start with this.
CONTACT_KEY_PREFIX = "contact:"
ITEM_ROLES = ("key", "item_id", "title", "owner", "due", "status")
# What the database keeps (case_record.case_ref, *.entity_id, plan_item.item_id and
# plan_item.status, Integer columns): a longer answer is not a reference number, id or code.
MAX_REF_LENGTH = 120
MAX_ID_LENGTH = 64
MAX_CODE_LENGTH = 30
MAX_VERSION = 2**31 - 1
# How far past the time the server received it an event time is believed (see
# ``map_submission``); the settings may say otherwise (``CaseSettings``).
DEFAULT_FUTURE_TOLERANCE = timedelta(hours=24)
# Contact less often than once a year is not a contact frequency.
MAX_CONTACT_FREQUENCY_DAYS = 366
# The ``outcome`` answer of a contact that took place; any other is a failed attempt.
CONTACT_MADE = "made"

_ROLE_PROPERTIES = {
    "risk": "risk_level",
    "contact_frequency": "contact_frequency_days",
    "next_contact": "next_contact_date",
    "review_due": "review_date",
    "care_plan_review": "care_plan_review_date",
    "caseworker": "caseworker",
}
NEXT_CONTACT = _ROLE_PROPERTIES["next_contact"]
REVIEW_DATE = _ROLE_PROPERTIES["review_due"]


def case_property_of(role: str | None, save_to: str | None) -> str | None:
    """The case property an answer outside any repeat becomes: its role's, else its
    ``save_to`` (None: it becomes none)."""
    return _ROLE_PROPERTIES.get(role or "") or save_to


_DATE_ROLES = frozenset({"next_contact", "review_due", "care_plan_review"})
# What was decided at, or is about, this event: the latest event wins these fields.
_EVENT_ROLES = frozenset({"next_contact", "review_due", "care_plan_review", "event_time"})
# The plan items of the care plan (xlsforms/README.md): the care plan a plan needing
# alternative care asks for, and the review of the care plan in force. Each is one item per
# case, named by its kind.
CARE_PLAN = "care_plan"
CARE_PLAN_REVIEW = "care_plan_review"
_CARE_PLAN_TITLES = {CARE_PLAN: "Care plan", CARE_PLAN_REVIEW: "Care plan review"}
# The case plan form's constraint on a new reference number, in capitals (ASCII only).
_TYPED_REF = re.compile(r"[A-Z0-9][A-Z0-9/-]{2,39}", re.ASCII)
# A whole number of days, possibly written as a decimal ("14", "14.0").
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.0*)?")


@dataclass(frozen=True)
class ItemUpdate:
    """What one repeat instance says about one plan item. ``None`` means "not said"."""

    kind: str
    item_id: str
    key: str | None = None
    title: str | None = None
    owner: str | None = None
    due: date | None = None
    status: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    is_explicit_id: bool = False  # the id came from an ``item_id`` answer, not derived

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "item_id": self.item_id,
            "key": self.key,
            "title": self.title,
            "owner": self.owner,
            "due": self.due.isoformat() if self.due else None,
            "status": self.status,
            "properties": dict(self.properties),
            "is_explicit_id": self.is_explicit_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemUpdate:
        return cls(
            kind=data["kind"],
            item_id=data["item_id"],
            key=data.get("key"),
            title=data.get("title"),
            owner=data.get("owner"),
            due=date.fromisoformat(data["due"]) if data.get("due") else None,
            status=data.get("status"),
            properties=dict(data.get("properties") or {}),
            is_explicit_id=bool(data.get("is_explicit_id", False)),
        )


@dataclass(frozen=True)
class CaseUpdate:
    """One submission's contribution to one case.

    ``case_ref`` may be empty when the form identified the case only by its entity id; the
    service then looks the reference number up. ``event_at`` is aware UTC.
    """

    case_ref: str
    instance_id: str
    form_id: str
    event_at: datetime
    entity_id: str | None = None
    is_registration: bool = False
    base_version: int | None = None
    submitter: str | None = None
    caseworker: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    items: tuple[ItemUpdate, ...] = ()
    close: bool = False
    is_contact: bool = False
    is_review: bool = False
    # properties that describe this event only (see the module docstring), sorted
    event_fields: tuple[str, ...] = ()
    # a failed attempt: why it failed (the ``outcome`` answer); None for a contact or
    # any other form
    attempt: str | None = None
    # the caseworker answered that they did not feel safe (role ``worker_safe``)
    worker_unsafe: bool = False
    # a case plan, new or revised (the form's kind: registration or review)
    is_plan: bool = False
    # a conference's decision to transfer the case (roles ``transfer_caseworker``,
    # ``transfer_team``, ``transfer_agency``, ``transfer_reason``): ``kind`` (caseworker,
    # team or agency), ``to`` (the phone list's code of the caseworker or team, or the
    # agency as typed) and ``reason``; asked for once the conference is applied
    # (``cases.transfer_decisions.request_from_conference``)
    transfer: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "case_ref": self.case_ref,
            "instance_id": self.instance_id,
            "form_id": self.form_id,
            "event_at": self.event_at.isoformat(),
            "entity_id": self.entity_id,
            "is_registration": self.is_registration,
            "base_version": self.base_version,
            "submitter": self.submitter,
            "caseworker": self.caseworker,
            "properties": dict(self.properties),
            "items": [i.to_json() for i in self.items],
            "close": self.close,
            "is_contact": self.is_contact,
            "is_review": self.is_review,
            "event_fields": list(self.event_fields),
            "attempt": self.attempt,
            "worker_unsafe": self.worker_unsafe,
            "is_plan": self.is_plan,
            "transfer": dict(self.transfer) if self.transfer else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseUpdate:
        return cls(
            case_ref=data["case_ref"],
            instance_id=data["instance_id"],
            form_id=data["form_id"],
            event_at=aware(datetime.fromisoformat(data["event_at"])),
            entity_id=data.get("entity_id"),
            is_registration=bool(data.get("is_registration", False)),
            base_version=data.get("base_version"),
            submitter=data.get("submitter"),
            caseworker=data.get("caseworker"),
            properties=dict(data.get("properties") or {}),
            items=tuple(ItemUpdate.from_json(i) for i in data.get("items") or ()),
            close=bool(data.get("close", False)),
            is_contact=bool(data.get("is_contact", False)),
            is_review=bool(data.get("is_review", False)),
            event_fields=tuple(data.get("event_fields") or ()),
            attempt=data.get("attempt") or None,
            worker_unsafe=bool(data.get("worker_unsafe", False)),
            # stored before the flag: the case plan form was the only plan form
            is_plan=bool(data.get("is_plan", data.get("form_id") == "case_plan")),
            transfer=dict(data["transfer"]) if data.get("transfer") else None,
        )


def item_id_for(case_ref: str, kind: str, identity: str) -> str:
    """The deterministic id of a plan item that has no explicit ``item_id`` answer."""
    return str(uuid.uuid5(ITEM_NAMESPACE, f"{case_ref}|{kind}|{identity}"))


def normalize_title(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip().lower()


def canonical_ref(value: str) -> str:
    """A case reference number as the server files it: trimmed, inner runs of spaces made
    one, upper-case. ``""`` when it is longer than a reference number can be."""
    ref = " ".join(value.split()).upper()
    return ref if len(ref) <= MAX_REF_LENGTH else ""


def is_valid_ref(ref: str) -> bool:
    """Whether a canonical reference number is one the case plan form accepts (its
    ``new_case_ref`` constraint, xlsforms/README.md): 3 to 40 letters, digits, ``-`` or
    ``/``, starting with a letter or digit, with at least one digit."""
    return _TYPED_REF.fullmatch(ref) is not None and any(c.isdigit() for c in ref)


def is_contact_form(definition: FormDefinition) -> bool:
    """A form is a contact with the child when its kind says so (``FormKind``)."""
    return definition.kind is FormKind.CONTACT


def is_registration_block(block: EntityBlock | None) -> bool:
    """A registration creates the case entity: ``create`` without ``update``, or an upsert
    (both flags) that saw no existing version (no ``baseVersion``)."""
    if block is None or not block.create:
        return False
    return not block.update or block.base_version is None


def map_submission(
    definition: FormDefinition,
    envelope: SubmissionEnvelope,
    *,
    submitter: str | None,
    received_at: datetime,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
) -> CaseUpdate | None:
    """Read the case-work meaning of one submission; ``None`` if the form has no ``ref`` role.

    Never raises for odd answers: an unparseable date or number is treated as not given.
    An event time later than ``received_at + future_tolerance`` comes from a phone whose
    clock is wrong (it would win every later merge): the event counts at ``received_at``.
    ``received_at`` is stored with the submission, so mapping it again gives the same time.
    """
    ref_fields = [f for f in definition.with_role("ref") if f.repeat is None]
    if not ref_fields:
        return None
    data = envelope.data
    case_ref = canonical_ref(first_answer(data, ref_fields[0]) or "")
    block = _case_block(envelope)

    properties: dict[str, Any] = {}
    event_fields: set[str] = set()
    for f in definition.fields:
        if f.kind != "field" or f.repeat is not None or f.is_meta:
            continue
        value = first_answer(data, f)
        if value is None:
            continue
        if f.role == "ref":
            if f.save_to and case_ref:
                properties[f.save_to] = case_ref  # as filed, not as typed
            continue
        if f.role in _ROLE_PROPERTIES:
            # one answer, one key: the role's case field, whatever the save_to says
            name = _ROLE_PROPERTIES[f.role]
            converted = _convert_role(f.role, value)
            if converted is None:
                continue
            properties[name] = converted
        elif f.save_to:
            name = f.save_to
            properties[name] = value
        else:
            continue
        if f.is_event or f.role in _EVENT_ROLES:
            event_fields.add(name)

    caseworker = properties.pop("caseworker", None)
    event_fields.discard("caseworker")
    close_fields = definition.with_role("close")
    close = any((first_answer(data, f) or "").lower() == "yes" for f in close_fields)
    items = tuple(_items(definition, data, case_ref) + _care_plan_items(definition, data, case_ref))
    attempt = _attempt(definition, data)
    if attempt is not None:
        # Not a contact: nothing the form may still carry changes the case.
        properties, event_fields, items, close = {}, set(), (), False
    worker_unsafe = any(
        (first_answer(data, f) or "").lower() == "no"
        for f in definition.with_role("worker_safe")
        if f.repeat is None
    )

    return CaseUpdate(
        case_ref=case_ref,
        instance_id=envelope.instance_id,
        form_id=definition.form_id,
        event_at=bounded_by_receipt(
            event_time(definition, data, received_at), received_at, future_tolerance
        ),
        entity_id=_entity_id(block),
        is_registration=is_registration_block(block),
        base_version=_version(block.base_version) if block else None,
        submitter=submitter,
        caseworker=caseworker,
        properties=properties,
        items=items,
        close=close,
        is_contact=is_contact_form(definition) and attempt is None,
        is_review=definition.kind.is_review,
        event_fields=tuple(sorted(event_fields)),
        attempt=attempt,
        worker_unsafe=worker_unsafe,
        is_plan=definition.kind in (FormKind.REGISTRATION, FormKind.REVIEW),
        transfer=_transfer(definition, data) if attempt is None else None,
    )


# A conference's transfer: the role of each answer, what it is kept as, and its bound.
_TRANSFER_ROLES = (
    ("transfer_caseworker", "caseworker", MAX_CODE_LENGTH),
    ("transfer_team", "team", MAX_CODE_LENGTH),
    ("transfer_agency", "agency", 200),
    ("transfer_reason", "reason", 2000),
)
TRANSFER_TARGETS = ("caseworker", "team", "agency")


def _transfer(definition: FormDefinition, data: DataNode) -> dict[str, str] | None:
    """The transfer a conference decided (exactly one of a caseworker, a team or an agency
    answered), with its reason; None when it decided none."""
    found: dict[str, str] = {}
    for role, key, limit in _TRANSFER_ROLES:
        for f in definition.with_role(role):
            value = " ".join((first_answer(data, f) or "").split()) if f.repeat is None else ""
            if value:
                found[key] = value[:limit]
                break
    targets = [k for k in TRANSFER_TARGETS if k in found]
    if len(targets) != 1:
        return None
    return {"kind": targets[0], "to": found[targets[0]], "reason": found.get("reason", "")}


def _attempt(definition: FormDefinition, data: DataNode) -> str | None:
    """Why the contact did not take place (the ``outcome`` answer when it is not ``made``,
    as a code of at most ``MAX_CODE_LENGTH``); None when it did, or the form does not say."""
    for f in definition.with_role("outcome"):
        if f.repeat is not None:
            continue
        value = (first_answer(data, f) or "").lower()
        if value and value != CONTACT_MADE:
            return value[:MAX_CODE_LENGTH]
    return None


def rebase_update(update: CaseUpdate, case_ref: str) -> CaseUpdate:
    """The same update filed under another reference number (a supervisor linked it).

    Derived item ids are recomputed so that the items meet the target case's items.
    """
    items = tuple(
        i
        if i.is_explicit_id
        else replace(
            i, item_id=item_id_for(case_ref, i.kind, i.key or normalize_title(i.title or ""))
        )
        for i in update.items
    )
    properties = dict(update.properties)
    return replace(update, case_ref=case_ref, items=items, properties=properties)


def _case_block(envelope: SubmissionEnvelope) -> EntityBlock | None:
    blocks = [b for b in envelope.entities if b.dataset == CASE_DATASET]
    if not blocks:
        blocks = list(envelope.entities)
    # the root meta block is the case; blocks in repeats are for other lists
    blocks.sort(key=lambda b: (b.path != "", b.path))
    return blocks[0] if blocks else None


def _entity_id(block: EntityBlock | None) -> str | None:
    if block is None or not block.entity_id or len(block.entity_id) > MAX_ID_LENGTH:
        return None
    return block.entity_id


def _version(value: int | None) -> int | None:
    return value if value is not None and 0 <= value <= MAX_VERSION else None


def _convert_role(role: str, value: str) -> Any:
    if role == "contact_frequency":
        return _frequency(value)
    if role in _DATE_ROLES:
        parsed = parse_date(value)
        return parsed.isoformat() if parsed else None
    if role == "risk":
        return _code(value)
    return value


def _frequency(value: str) -> int | None:
    """Whole days between contacts, 1 to MAX_CONTACT_FREQUENCY_DAYS; anything else None."""
    text = value.strip()
    if not _WHOLE_NUMBER.fullmatch(text) or len(text) > 20:
        return None
    days = int(text.split(".")[0])
    return days if 0 < days <= MAX_CONTACT_FREQUENCY_DAYS else None


def _code(value: str) -> str | None:
    """A choice name (status, risk level): lower-case, or None when too long to be one."""
    code = value.strip().lower()
    return code if code and len(code) <= MAX_CODE_LENGTH else None


def _repeat_instances(data: DataNode, path: str) -> list[DataNode]:
    head, _, rest = path.partition("/")
    out: list[DataNode] = []
    for value in data.get(head, []):
        if not isinstance(value, dict):
            continue
        if rest:
            out.extend(_repeat_instances(value, rest))
        else:
            out.append(value)
    return out


def _items(definition: FormDefinition, data: DataNode, case_ref: str) -> list[ItemUpdate]:
    items: list[ItemUpdate] = []
    from_contact = is_contact_form(definition)
    for repeat in definition.fields:
        if repeat.kind != "repeat" or repeat.role not in (*ITEM_KINDS, EXISTING_ITEMS):
            continue
        kind = repeat.role
        inner = [f for f in definition.fields if f.repeat == repeat.path and f.kind == "field"]
        for instance in _repeat_instances(data, repeat.path):
            answers: dict[str, str] = {}
            props: dict[str, str] = {}
            for f in inner:
                rel = f.path[len(repeat.path) + 1 :]
                value = next((v.strip() for v in values_at(instance, rel) if v.strip()), None)
                if value is None:
                    continue
                if f.role in ITEM_ROLES:
                    answers[f.role] = value
                elif not f.is_meta:
                    props[f.name] = value
            item = _item(kind, answers, props, case_ref, from_contact=from_contact)
            if item is not None:
                items.append(item)
    return items


def _item(
    kind: str,
    answers: dict[str, str],
    props: dict[str, str],
    case_ref: str,
    *,
    from_contact: bool,
) -> ItemUpdate | None:
    key = answers.get("key")
    title = answers.get("title")
    explicit = answers.get("item_id")
    if explicit and len(explicit) > MAX_ID_LENGTH:
        explicit = None  # not an id this server gave out
    if explicit:
        item_id = explicit
    elif kind == EXISTING_ITEMS:
        return None  # an existing item is named by its id, or not at all
    elif key or title:
        if from_contact:
            # A contact changes an item of the plan only by picking it (item_id); what it
            # makes, such as a referral, has keys of its own and never takes a plan's item.
            key = f"{CONTACT_KEY_PREFIX}{key or normalize_title(title or '')}"
        item_id = item_id_for(case_ref, kind, key or normalize_title(title or ""))
    else:
        return None  # an empty repeat instance names nothing
    status = answers.get("status")
    return ItemUpdate(
        # an existing item keeps the kind it was made with (the merge reads it from there)
        kind="" if kind == EXISTING_ITEMS else kind,
        item_id=item_id,
        key=key,
        title=title,
        owner=answers.get("owner"),
        due=parse_date(answers["due"]) if "due" in answers else None,
        status=_code(status) if status else None,
        properties=props,
        is_explicit_id=bool(explicit),
    )


def _care_plan_items(definition: FormDefinition, data: DataNode, case_ref: str) -> list[ItemUpdate]:
    """A ``care_plan_due`` date (a plan needing alternative care) makes the care plan due,
    with no status, so that a revision repeating it never reopens a care plan made since. A
    ``care_plan`` form makes it done and its review due by its ``care_plan_review`` date."""
    wanted: list[tuple[str, date | None, str | None]] = [
        (CARE_PLAN, _role_date(definition, data, "care_plan_due"), None)
    ]
    if definition.kind is FormKind.CARE_PLAN:
        wanted.append((CARE_PLAN, None, "done"))
        review = _role_date(definition, data, "care_plan_review")
        wanted.append((CARE_PLAN_REVIEW, review, "planned" if review else None))
    return [
        ItemUpdate(
            kind=kind,
            item_id=item_id_for(case_ref, kind, kind),
            key=kind,
            title=_CARE_PLAN_TITLES[kind],
            due=due,
            status=status,
        )
        for kind, due, status in wanted
        if due is not None or status is not None
    ]


def _role_date(definition: FormDefinition, data: DataNode, role: str) -> date | None:
    """The first date answered to a question of ``role`` outside repeats."""
    values = (first_answer(data, f) for f in definition.with_role(role) if f.repeat is None)
    return next((d for v in values if v and (d := parse_date(v)) is not None), None)
