"""Small case-work XLSForms (markdown, converted by real pyxform) and submission builders."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from xml.sax.saxutils import escape, quoteattr

from pyxform.xls2xform import convert

from server.submissions.parse import SubmissionEnvelope, parse_envelope
from server.xforms.definition import FormDefinition, parse_definition

NS_SETTING = 'casework="urn:casework:xforms"'

CASE_PLAN = f"""
| survey |
| | type | name | label | save_to | bind::casework:role | bind::casework:sensitive | bind::casework:saveto |
| | start | start | | | | |
| | end | end | | | | |
| | text | ref | Reference | case_ref | ref | |
| | text | caseworker | Caseworker | | caseworker | |
| | date | plan_date | Plan date | | event_time | |
| | select_one risk | risk | Risk | | risk | |
| | integer | freq | Contact every (days) | | contact_frequency | |
| | date | review | Review by | review_date | review_due | |
| | text | summary | Situation | | | yes | summary |
| | begin_repeat | needs | Needs | | need | |
| | text | need_key | Key | | key | |
| | text | need_title | Need | | title | |
| | text | need_owner | By whom | | owner | |
| | date | need_due | By when | | due | |
| | select_one status | need_status | Status | | status | |
| | text | how | How it will be addressed | | | |
| | end_repeat | | | | | |
| | begin_repeat | services | Services | | service | |
| | text | svc_id | Item | | item_id | |
| | text | svc_title | Service | | title | |
| | select_one status | svc_status | Status | | status | |
| | end_repeat | | | | | |
| | begin_repeat | existing | Items already in the plan | | existing | |
| | text | ex_id | Item | | item_id | |
| | select_one status | ex_status | Status | | status | |
| | text | ex_note | What changed | | | |
| | end_repeat | | | | | |
| choices |
| | list_name | name | label |
| | risk | low | Low |
| | risk | medium | Medium |
| | risk | high | High |
| | status | open | Open |
| | status | delivered | Delivered |
| | status | done | Done |
| settings |
| | form_id | version | namespaces |
| | case_plan | 1 | {NS_SETTING} |
| entities |
| | list_name | label |
| | cases | concat('Case ', ${{ref}}) |
"""

CONTACT_LOG = f"""
| survey |
| | type | name | label | save_to | bind::casework:role | calculation | bind::casework:event |
| | start | start | | | | | |
| | end | end | | | | | |
| | select_one_from_file cases.csv | case | Case | | | | |
| | calculate | ref | | | ref | instance('cases')/root/item[name=${{case}}]/case_ref | |
| | select_one mode | mode | Mode | last_contact_mode | | | yes |
| | select_one risk | risk | Risk now | | risk | | |
| | date | next_visit | Next contact | next_contact_date | next_contact | | |
| | select_one yn | close | Close the case? | | close | | |
| | begin_repeat | referral | Referral | | service | | |
| | text | ref_key | Key | | key | | |
| | text | ref_title | Service | | title | | |
| | date | ref_due | By when | | due | | |
| | end_repeat | | | | | | |
| choices |
| | list_name | name | label |
| | mode | visit | Home visit |
| | mode | phone | Phone |
| | risk | low | Low |
| | risk | medium | Medium |
| | risk | high | High |
| | yn | yes | Yes |
| | yn | no | No |
| settings |
| | form_id | version | namespaces |
| | contact_log | 1 | {NS_SETTING} |
| entities |
| | list_name | entity_id |
| | cases | ${{case}} |
"""

CASE_CONFERENCE = f"""
| survey |
| | type | name | label | save_to | bind::casework:role | calculation |
| | select_one_from_file cases.csv | case | Case | | | |
| | calculate | ref | | | ref | instance('cases')/root/item[name=${{case}}]/case_ref |
| | date | held_on | Held on | | event_time | |
| | text | platform | Platform | conference_platform | | |
| | begin_repeat | decisions | Decisions | | decision | |
| | text | decision_key | Key | | key | |
| | text | decision | Decision | | title | |
| | text | responsible | Responsible | | owner | |
| | date | by_when | By when | | due | |
| | end_repeat | | | | | |
| settings |
| | form_id | version | namespaces |
| | case_conference | 1 | {NS_SETTING} |
| entities |
| | list_name | entity_id |
| | cases | ${{case}} |
"""

NO_CASE = """
| survey |
| | type | name | label |
| | text | note | Note |
| settings |
| | form_id | version |
| | feedback | 1 |
"""


@cache
def xform(md: str) -> str:
    xml: str = convert(xlsform=md, file_type=".md").xform
    return xml


@cache
def definition(md: str) -> FormDefinition:
    return parse_definition(xform(md))


def plan_def() -> FormDefinition:
    return definition(CASE_PLAN)


def contact_def() -> FormDefinition:
    return definition(CONTACT_LOG)


def conference_def() -> FormDefinition:
    return definition(CASE_CONFERENCE)


def _el(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>" if value is not None else f"<{name}/>"


def _entity(
    entity_id: str, *, create: bool, base_version: int | None, label: str | None = None
) -> str:
    attrs = f'dataset="cases" id={quoteattr(entity_id)}'
    if create:
        attrs += ' create="1"'
    else:
        bv = "" if base_version is None else str(base_version)
        attrs += f' update="1" baseVersion="{bv}" trunkVersion="{bv}" branchId=""'
    label_xml = f"<label>{escape(label)}</label>" if label else "<label/>"
    return f"<entity {attrs}>{label_xml}</entity>"


def envelope_xml(
    form_id: str,
    instance_id: str,
    fields: dict[str, object],
    *,
    entity_id: str | None = None,
    create: bool = False,
    base_version: int | None = None,
    repeats: dict[str, list[dict[str, object]]] | None = None,
    deprecated_id: str | None = None,
) -> bytes:
    body = "".join(_el(k, v) for k, v in fields.items())
    for name, instances in (repeats or {}).items():
        for inst in instances:
            body += f"<{name}>" + "".join(_el(k, v) for k, v in inst.items()) + f"</{name}>"
    meta = f"<instanceID>{escape(instance_id)}</instanceID>"
    if deprecated_id:
        meta += f"<deprecatedID>{escape(deprecated_id)}</deprecatedID>"
    if entity_id:
        meta += _entity(entity_id, create=create, base_version=base_version, label="Case")
    return (
        f'<?xml version="1.0"?><data id="{form_id}" version="1">{body}<meta>{meta}</meta></data>'
    ).encode()


def envelope(*args: object, **kwargs: object) -> SubmissionEnvelope:
    return parse_envelope(envelope_xml(*args, **kwargs))  # type: ignore[arg-type]


def at(text: str) -> datetime:
    """'2024-05-01 10:00' -> aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
