"""XForm XML -> FormDefinition: what the server needs to know about a form. Pure.

The definition is derived once at publish and stored as JSON with the version, so that
receiving, merging and exporting never re-read the XForm.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element

from server.xml import NS, local_name, parse_untrusted, qname

CASEWORK_ROLE = qname("casework", "role")
CASEWORK_SENSITIVE = qname("casework", "sensitive")
CASEWORK_EVENT = qname("casework", "event")
# casework:kind on the primary instance's root (settings sheet: attribute::casework:kind)
CASEWORK_KIND = qname("casework", "kind")
# casework:saveto="X": the answer becomes case property X on the server only. Collect writes
# an entities:saveto answer into the phone's own copy of the case as well, so a sensitive
# answer may only reach the case this way (domain.md §Confidentiality).
CASEWORK_SAVETO = qname("casework", "saveto")
SAVETO = qname("entities", "saveto")
# A media reference is a whole text or attribute value (as ODK Central reads it), so a name
# may hold spaces and any other character except "/": "jr://images/my logo.png".
MEDIA_REF = re.compile(r"jr://(?:images|audio|video|file|file-csv)/([^/]+)")
# The language of the labels of a form without translations (and pyxform's name for it).
UNTRANSLATED = "default"
# "French (fr)" -> "fr": XLSForm's way of naming a language with its code
_LANGUAGE_CODE = re.compile(r"\(([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)\)\s*$")


class FormKind(StrEnum):
    """What a form is to a case. The merge and the exports both read this, and nothing else.

    Declared once, in the XLSForm's settings sheet (``attribute::casework:kind``).
    """

    REGISTRATION = "registration"  # opens a case; a later one revises its plan (a review)
    CONTACT = "contact"  # a visit or call with the child: it counts toward contact
    REVIEW = "review"  # a review of the plan
    CONFERENCE = "conference"  # a case conference: it reviews the plan too
    CARE_PLAN = "care_plan"
    OTHER = "other"

    @property
    def is_review(self) -> bool:
        return self in (FormKind.REGISTRATION, FormKind.REVIEW, FormKind.CONFERENCE)


def undeclared_kind(form_id: str, roles: Sequence[str | None]) -> FormKind:
    """The kind of a form that does not declare one (published before forms did): the rule
    the merge followed until then, by form ID and by whether it sets the next contact."""
    if form_id == "case_plan":
        return FormKind.REGISTRATION
    if form_id == "case_conference":
        return FormKind.CONFERENCE
    if form_id == "contact_log" or "next_contact" in roles:
        return FormKind.CONTACT
    return FormKind.OTHER


def declared_kind(value: str | None) -> FormKind | None:
    """A ``casework:kind`` value as a kind; None when absent. An unknown value is an error
    of the form, reported at publish (``DefinitionError``)."""
    if value is None or not value.strip():
        return None
    try:
        return FormKind(value.strip())
    except ValueError:
        known = ", ".join(k.value for k in FormKind)
        raise DefinitionError(f"casework:kind {value!r} is not one of: {known}") from None


@dataclass(frozen=True)
class Choice:
    value: str
    labels: dict[str, str]


@dataclass(frozen=True)
class FieldDef:
    """One node of the primary instance, in document order."""

    path: str  # relative to the root element, e.g. "needs/need"
    name: str
    kind: str  # "field" | "group" | "repeat"
    type: str = "string"  # bind type: string, int, decimal, date, dateTime, select1, binary, …
    control: str = ""  # body control: input, select1, select, upload, trigger, "" (calculate)
    labels: dict[str, str] = field(default_factory=dict)
    repeat: str | None = None  # path of the innermost enclosing repeat
    # the case property the answer becomes: entities:saveto, else casework:saveto
    save_to: str | None = None
    # the save_to is casework:saveto: the server files it, Collect never writes it on the phone
    save_to_server_only: bool = False
    role: str | None = None
    is_sensitive: bool = False
    # casework:event="yes": the answer describes this event only (how this contact took
    # place); the latest event wins and it never makes a conflict
    is_event: bool = False
    choice_list: str | None = None  # secondary instance id the choices come from
    choice_file: str | None = None  # e.g. "services.csv" for select_one_from_file
    is_meta: bool = False

    @property
    def is_select_multiple(self) -> bool:
        return self.control == "select"


@dataclass(frozen=True)
class EntityDecl:
    dataset: str
    can_create: bool
    can_update: bool
    path: str = "meta/entity"


@dataclass(frozen=True)
class FormDefinition:
    form_id: str
    version: str
    title: str
    root_name: str
    fields: tuple[FieldDef, ...]
    choices: dict[str, tuple[Choice, ...]] = field(default_factory=dict)
    languages: tuple[str, ...] = ()
    # the translation the form marks as its default (settings: default_language)
    default_language: str | None = None
    entities: tuple[EntityDecl, ...] = ()
    entities_version: str | None = None
    is_encrypted: bool = False
    submission_action: str | None = None
    media_files: tuple[str, ...] = ()  # every jr:// file the form refers to, by name
    kind: FormKind = FormKind.OTHER

    def field(self, path: str) -> FieldDef | None:
        for f in self.fields:
            if f.path == path:
                return f
        return None

    def with_role(self, role: str) -> list[FieldDef]:
        return [f for f in self.fields if f.role == role]

    @property
    def binary_fields(self) -> list[FieldDef]:
        return [f for f in self.fields if f.type == "binary"]

    def label(self, labels: Mapping[str, str], language: str | None = None) -> str:
        """The one text of ``labels`` (a field's or a choice's) to show: in ``language`` if
        given and there, else in the form's default language, else the untranslated one."""
        return pick_label(labels, language, self.default_language)

    def language_named(self, wanted: str) -> str | None:
        """The form's language that ``wanted`` names, as the form does ("French (fr)") or
        by its code ("fr", "fr-CA"); None if the form has no such language."""
        return match_language(self.languages, wanted)

    def to_json(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` gives, without its deep copy of every leaf (13 ms for
        a form of five languages, each time one is published)."""
        plain: dict[str, Any] = _plain(self)
        return plain

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FormDefinition:
        return cls(
            form_id=data["form_id"],
            version=data["version"],
            title=data["title"],
            root_name=data["root_name"],
            fields=tuple(FieldDef(**f) for f in data["fields"]),
            choices={k: tuple(Choice(**c) for c in v) for k, v in data.get("choices", {}).items()},
            languages=tuple(data.get("languages", ())),
            default_language=stored_default_language(data),
            entities=tuple(EntityDecl(**e) for e in data.get("entities", ())),
            entities_version=data.get("entities_version"),
            is_encrypted=data.get("is_encrypted", False),
            submission_action=data.get("submission_action"),
            media_files=tuple(data.get("media_files", ())),
            kind=_stored_kind(data),
        )


def _stored_kind(data: Mapping[str, Any]) -> FormKind:
    """The kind of a stored definition; one stored before kinds were kept takes the rule for
    undeclared forms, as its XML would give it."""
    stored = data.get("kind")
    if isinstance(stored, str) and stored in FormKind.__members__.values():
        return FormKind(stored)
    roles = [f.get("role") for f in data.get("fields", ())]
    return undeclared_kind(data["form_id"], roles)


def stored_default_language(data: Mapping[str, Any]) -> str | None:
    """The default language of a definition stored as JSON (``FormDefinition.to_json``)."""
    if "default_language" in data:
        return data["default_language"]  # type: ignore[no-any-return]
    # stored before the default was kept: pyxform writes the default translation first
    languages = data.get("languages") or ()
    return str(languages[0]) if languages else None


def pick_label(labels: Mapping[str, str], *languages: str | None) -> str:
    """The text of ``labels`` in the first of ``languages`` it has, else the untranslated
    one, else the first language by name (never by the order a database kept the keys)."""
    for language in (*languages, UNTRANSLATED):
        if language is not None and labels.get(language):
            return labels[language]
    return labels[min(labels)] if labels else ""


def match_language(languages: Sequence[str], wanted: str) -> str | None:
    """The one of ``languages`` that ``wanted`` names: the same name (any case), or the same
    code in brackets ("fr" or "fr-CA" for "French (fr)")."""
    wanted = wanted.strip()
    for language in languages:
        if language.casefold() == wanted.casefold():
            return language
    codes = {language: _language_code(language) for language in languages}
    for code in (wanted.casefold(), re.split(r"[-_]", wanted)[0].casefold()):
        for language, its_code in codes.items():
            if its_code == code:
                return language
    return None


def _language_code(language: str) -> str | None:
    found = _LANGUAGE_CODE.search(language)
    return found.group(1).casefold() if found else None


def _plain(value: Any) -> Any:
    """Dataclasses as dicts, containers copied, leaves (text, numbers, enums) as they are."""
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


class DefinitionError(ValueError):
    """The XML is not an XForm the server can use."""


def parse_definition(xml: str | bytes) -> FormDefinition:
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    root = parse_untrusted(raw, malformed="xform.invalid", forbidden="xform.invalid")
    head = root.find("h:head", NS)
    body = root.find("h:body", NS)
    model = head.find("xf:model", NS) if head is not None else None
    if model is None:
        raise DefinitionError("no <model> in <h:head>")
    instances = model.findall("xf:instance", NS)
    if not instances or len(instances[0]) == 0:
        raise DefinitionError("no primary instance")
    data_root = instances[0][0]
    form_id = data_root.get("id")
    if not form_id:
        raise DefinitionError("the primary instance root has no id attribute")
    title_el = head.find("h:title", NS) if head is not None else None

    itext = _read_itext(model)
    default_language = _default_language(model, itext)
    binds = _read_binds(model, local_name(data_root.tag))
    controls = _read_controls(body, itext) if body is not None else {}
    choices = _read_choices(model, itext)
    repeats = set(_repeat_paths(body)) if body is not None else set()

    fields: list[FieldDef] = []
    _walk(data_root, "", None, repeats, binds, controls, fields)
    csv_files = _csv_instances(model)
    fields = [
        replace(f, choice_file=csv_files[f.choice_list]) if f.choice_list in csv_files else f
        for f in fields
    ]

    entities, entities_version = _read_entities(model, data_root)
    submission = model.find("xf:submission", NS)
    media = _media_files(root)
    kind = declared_kind(data_root.get(CASEWORK_KIND)) or undeclared_kind(
        form_id, [f.role for f in fields]
    )
    return FormDefinition(
        kind=kind,
        form_id=form_id,
        version=data_root.get("version") or "",
        title=(title_el.text or "").strip() if title_el is not None else form_id,
        root_name=local_name(data_root.tag),
        fields=tuple(fields),
        choices=choices,
        languages=tuple(itext.keys()),
        default_language=default_language,
        entities=entities,
        entities_version=entities_version,
        is_encrypted=submission is not None and bool(submission.get("base64RsaPublicKey")),
        submission_action=submission.get("action") if submission is not None else None,
        media_files=tuple(media),
    )


def _media_files(root: Element) -> list[str]:
    """Every file the form refers to by a jr:// URI: media labels, external instances,
    default answers."""
    names: set[str] = set()
    for el in root.iter():
        for value in (el.text, *el.attrib.values()):
            if value and "jr://" in value:
                match = MEDIA_REF.fullmatch(value.strip())
                if match and match.group(1) not in (".", ".."):
                    names.add(match.group(1))
    return sorted(names)


def _read_itext(model: Element) -> dict[str, dict[str, str]]:
    """language -> text id -> plain text"""
    out: dict[str, dict[str, str]] = {}
    itext = model.find("xf:itext", NS)
    if itext is None:
        return out
    for translation in itext.findall("xf:translation", NS):
        lang = translation.get("lang") or UNTRANSLATED
        texts: dict[str, str] = {}
        for text in translation.findall("xf:text", NS):
            value = text.find("xf:value", NS)
            for v in text.findall("xf:value", NS):
                if v.get("form") is None:
                    value = v
                    break
            if value is not None:
                texts[text.get("id", "")] = "".join(value.itertext()).strip()
        out[lang] = texts
    return out


def _default_language(model: Element, itext: dict[str, dict[str, str]]) -> str | None:
    """The translation marked default="true()" (JavaRosa opens the form in it), else the
    first one."""
    for translation in model.findall("xf:itext/xf:translation", NS):
        if (translation.get("default") or "").strip().startswith("true"):
            return translation.get("lang") or UNTRANSLATED
    return next(iter(itext), None)


def _label_of(el: Element | None, itext: dict[str, dict[str, str]]) -> dict[str, str]:
    if el is None:
        return {}
    ref = el.get("ref")
    if ref and ref.startswith("jr:itext("):
        key = ref[len("jr:itext(") :].rstrip(")").strip("'\"")
        return {lang: texts[key] for lang, texts in itext.items() if key in texts}
    text = "".join(el.itertext()).strip()
    return {UNTRANSLATED: text} if text else {}


def _rel(nodeset: str, root_name: str) -> str:
    prefix = f"/{root_name}/"
    return nodeset[len(prefix) :] if nodeset.startswith(prefix) else nodeset.lstrip("/")


def _read_binds(model: Element, root_name: str) -> dict[str, dict[str, str]]:
    binds: dict[str, dict[str, str]] = {}
    for bind in model.findall("xf:bind", NS):
        nodeset = bind.get("nodeset") or bind.get("ref")
        if nodeset:
            binds[_rel(nodeset, root_name)] = dict(bind.attrib)
    return binds


_CONTROL_TAGS = {"input", "select1", "select", "upload", "trigger", "range", "rank", "odk:rank"}


def _read_controls(
    body: Element, itext: dict[str, dict[str, str]]
) -> dict[str, tuple[str, dict[str, str], str | None]]:
    """path -> (control, labels, itemset instance id)"""
    out: dict[str, tuple[str, dict[str, str], str | None]] = {}
    for el in body.iter():
        tag = local_name(el.tag)
        ref = el.get("ref") or el.get("nodeset")
        if not ref or not ref.startswith("/"):
            continue
        path = ref.split("/", 2)[2] if ref.count("/") >= 2 else ref
        label = _label_of(el.find("xf:label", NS), itext)
        if tag in _CONTROL_TAGS:
            itemset = el.find("xf:itemset", NS)
            list_id = None
            if itemset is not None:
                m = re.match(r"instance\('([^']+)'\)", itemset.get("nodeset", ""))
                list_id = m.group(1) if m else None
            out[path] = (tag, label, list_id)
        elif tag == "group" and path not in out:
            out[path] = ("group", label, None)
        elif tag == "repeat" and label:
            out.setdefault(path, ("repeat", label, None))
    return out


def _repeat_paths(body: Element) -> list[str]:
    paths = []
    for el in body.iter(qname("xf", "repeat")):
        nodeset = el.get("nodeset", "")
        if nodeset.startswith("/") and nodeset.count("/") >= 2:
            paths.append(nodeset.split("/", 2)[2])
    return paths


def _read_choices(
    model: Element, itext: dict[str, dict[str, str]]
) -> dict[str, tuple[Choice, ...]]:
    out: dict[str, tuple[Choice, ...]] = {}
    for inst in model.findall("xf:instance", NS)[1:]:
        list_id = inst.get("id")
        if not list_id or inst.get("src") or len(inst) == 0:
            continue
        items = []
        for item in inst[0]:
            value = item.findtext("xf:name", namespaces=NS)
            if value is None:
                continue
            itext_id = item.findtext("xf:itextId", namespaces=NS)
            if itext_id:
                labels = {lang: t[itext_id] for lang, t in itext.items() if itext_id in t}
            else:
                label = item.findtext("xf:label", namespaces=NS) or ""
                labels = {UNTRANSLATED: label} if label else {}
            items.append(Choice(value=value, labels=labels))
        out[list_id] = tuple(items)
    return out


def _csv_instances(model: Element) -> dict[str, str]:
    out = {}
    for inst in model.findall("xf:instance", NS)[1:]:
        src = inst.get("src") or ""
        if inst.get("id") and src.startswith("jr://"):
            out[inst.get("id", "")] = src.rsplit("/", 1)[-1]
    return out


def _walk(
    el: Element,
    prefix: str,
    repeat: str | None,
    repeats: set[str],
    binds: dict[str, dict[str, str]],
    controls: dict[str, tuple[str, dict[str, str], str | None]],
    out: list[FieldDef],
) -> None:
    seen: set[str] = set()
    for child in el:
        name = local_name(child.tag)
        path = f"{prefix}{name}"
        if path in seen:  # pyxform writes a repeat's template and a first instance
            continue
        seen.add(path)
        bind = binds.get(path, {})
        control, labels, list_id = controls.get(path, ("", {}, None))
        is_meta = path == "meta" or path.startswith("meta/") or name == "meta"
        if path in repeats:
            kind = "repeat"
        elif len(child) > 0:
            kind = "group"
        else:
            kind = "field"
        bind_type = bind.get("type", "string")
        type_ = {"xsd:string": "string"}.get(bind_type, bind_type.split(":")[-1])
        if control in ("select1", "select") and type_ == "string":
            type_ = control
        out.append(
            FieldDef(
                path=path,
                name=name,
                kind=kind,
                type=type_ if kind == "field" else kind,
                control=control if control not in ("group", "repeat") else "",
                labels=labels,
                repeat=repeat,
                save_to=bind.get(SAVETO) or bind.get(CASEWORK_SAVETO),
                save_to_server_only=not bind.get(SAVETO) and bool(bind.get(CASEWORK_SAVETO)),
                role=bind.get(CASEWORK_ROLE),
                is_sensitive=bind.get(CASEWORK_SENSITIVE, "").lower() in ("yes", "true", "1"),
                is_event=bind.get(CASEWORK_EVENT, "").lower() in ("yes", "true", "1"),
                choice_list=list_id,
                choice_file=None,
                is_meta=is_meta,
            )
        )
        if kind != "field":
            _walk(
                child,
                f"{path}/",
                path if kind == "repeat" else repeat,
                repeats,
                binds,
                controls,
                out,
            )


def _read_entities(model: Element, data_root: Element) -> tuple[tuple[EntityDecl, ...], str | None]:
    version = model.get(qname("entities", "entities-version"))
    decls = []
    for entity in data_root.iter():
        if local_name(entity.tag) != "entity":
            continue
        dataset = entity.get("dataset")
        if not dataset:
            continue
        decls.append(
            EntityDecl(
                dataset=dataset,
                can_create=entity.get("create") is not None,
                can_update=entity.get("update") is not None,
            )
        )
    return tuple(decls), version
