"""A stored submission as a person reads it: the filled form. Pure: no Flask, no database.

:func:`fill` turns the submission's XML and its version's words (``server.xforms.labels``)
into sections as the form groups them, with only the questions someone answered, choices
in words, repeats as small tables and files by name; for an edit, it marks what changed
from the version it replaced. Calculations, hidden fields, notes and the form's metadata
(``meta/instanceID``…) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from server.submissions.parse import DataNode, parse_envelope
from server.xforms.labels import FormLabels, Question

# Choices from a list the server sends (cases, services, plan items) are not in the form:
# the caller gives them, list id -> value -> words.
Lookups = Mapping[str, Mapping[str, str]]


@dataclass(frozen=True)
class Value:
    """One answer, in words. ``type`` is the question's (``date``, ``dateTime``…: the page
    shows those in the user's calendar and time zone); ``attachment`` the file's name when
    the answer is a file."""

    text: str
    type: str = "string"
    attachment: str | None = None
    is_changed: bool = False

    @property
    def is_plain(self) -> bool:
        """Shown as its text alone: not a file, a day or a time, nor a changed answer."""
        return not (self.attachment or self.is_changed or self.type in ("date", "dateTime"))


@dataclass(frozen=True)
class Answer:
    label: str
    value: Value


@dataclass(frozen=True)
class RepeatTable:
    """A repeat: one row per instance, one column per question answered in any of them."""

    label: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Value | None, ...], ...]

    @property
    def is_changed(self) -> bool:
        return any(v is not None and v.is_changed for row in self.rows for v in row)


@dataclass(frozen=True)
class Section:
    label: str  # "" for the questions outside any group
    items: tuple[Answer | RepeatTable, ...]

    @property
    def blocks(self) -> list[tuple[Answer, ...] | RepeatTable]:
        """The items as a page lays them out: runs of answers (one list each) between
        the tables."""
        out: list[tuple[Answer, ...] | RepeatTable] = []
        run: list[Answer] = []
        for item in self.items:
            if isinstance(item, Answer):
                run.append(item)
                continue
            if run:
                out.append(tuple(run))
                run = []
            out.append(item)
        if run:
            out.append(tuple(run))
        return out


@dataclass(frozen=True)
class FilledForm:
    title: str
    sections: tuple[Section, ...]
    attachments: tuple[str, ...]  # the files its answers name, in the form's order
    is_edit: bool = False
    # an edit: the labels of the answers it changed, and of those it no longer gives
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    sensitive_read: tuple[str, ...] = ()  # paths of the sensitive answers it shows


def fill(
    xml: bytes,
    labels: FormLabels,
    *,
    previous_xml: bytes | None = None,
    lookups: Lookups | None = None,
) -> FilledForm:
    """The filled form of ``xml`` in ``labels``' words; ``previous_xml``: the submission
    this one replaced (an edit), whose answers it is compared with."""
    previous = parse_envelope(previous_xml).data if previous_xml is not None else None
    return fill_data(parse_envelope(xml).data, labels, previous=previous, lookups=lookups)


def fill_data(
    data: DataNode,
    labels: FormLabels,
    *,
    previous: DataNode | None = None,
    lookups: Lookups | None = None,
) -> FilledForm:
    """:func:`fill` of answers already parsed (``parse.parse_envelope(xml).data``)."""
    before = _flat(previous, labels) if previous is not None else None
    reader = _Reader(labels, lookups or {}, before)
    sections = reader.sections(data)
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    if before is not None:
        now = _flat(data, labels)
        changed = _labels_of(labels, [k for k, v in now.items() if before.get(k) != v])
        removed = _labels_of(labels, [k for k in before if k not in now])
    return FilledForm(
        title=labels.title,
        sections=sections,
        attachments=tuple(reader.attachments),
        is_edit=before is not None,
        changed=changed,
        removed=removed,
        sensitive_read=tuple(sorted(reader.sensitive)),
    )


def values_for_list(data: DataNode, labels: FormLabels, list_id: str) -> set[str]:
    """The values the answers chose from ``list_id`` (so a caller fetches their words)."""
    paths = {q.path for q in labels.questions if q.choice_list == list_id}
    found: set[str] = set()

    def walk(node: DataNode, prefix: str) -> None:
        for name, occurrences in node.items():
            path = f"{prefix}{name}"
            for value in occurrences:
                if isinstance(value, dict):
                    walk(value, f"{path}/")
                elif path in paths:
                    found.update(value.split())

    walk(data, "")
    return found


def _labels_of(labels: FormLabels, keys: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for key in keys:
        path = "/".join(part.split("#", 1)[0] for part in key.split("/"))
        seen.setdefault(labels.label(path), None)
    return tuple(seen)


def _flat(data: DataNode, labels: FormLabels) -> dict[str, str]:
    """Every asked question's answer by its path, repeat instances numbered
    (``needs#2/need_owner``): what an edit is compared on."""
    out: dict[str, str] = {}

    def walk(node: DataNode, prefix: str, key_prefix: str) -> None:
        for name, occurrences in node.items():
            path = f"{prefix}{name}"
            question = labels.question(path)
            if question is None:
                continue
            for n, value in enumerate(occurrences, start=1):
                key = f"{key_prefix}{name}#{n}" if question.kind == "repeat" else key_prefix + name
                if isinstance(value, dict):
                    walk(value, f"{path}/", f"{key}/")
                elif question.is_asked and question.kind == "field" and value.strip():
                    out[key] = value.strip()

    walk(data, "", "")
    return out


class _Reader:
    def __init__(self, labels: FormLabels, lookups: Lookups, before: dict[str, str] | None):
        self.labels = labels
        self.lookups = lookups
        self.before = before
        self.attachments: list[str] = []
        self.sensitive: set[str] = set()
        self.children = labels.children

    def sections(self, data: DataNode) -> tuple[Section, ...]:
        out: list[Section] = []
        loose: list[Answer | RepeatTable] = []
        for q in self.children.get(None, []):
            if q.kind == "field":
                loose.extend(self._answers(q, data, ""))
                continue
            if loose:
                out.append(Section("", tuple(loose)))
                loose = []
            if q.kind == "group":
                items = self._group(q, _first_node(data, q.name), f"{q.name}/")
            else:
                items = self._repeat(q, data.get(q.name, []), f"{q.name}#")
            if items:
                out.append(Section(q.label, tuple(items)))
        if loose:
            out.append(Section("", tuple(loose)))
        return tuple(out)

    def _group(
        self, group: Question, node: DataNode | None, key: str
    ) -> list[Answer | RepeatTable]:
        if node is None:
            return []
        items: list[Answer | RepeatTable] = []
        for q in self.children.get(group.path, []):
            if q.kind == "field":
                items.extend(self._answers(q, node, key))
            elif q.kind == "group":
                items.extend(self._group(q, _first_node(node, q.name), f"{key}{q.name}/"))
            else:
                items.extend(self._repeat(q, node.get(q.name, []), f"{key}{q.name}#"))
        return items

    def _answers(self, q: Question, node: DataNode, key: str) -> list[Answer]:
        value = self._value(q, node, key)
        return [Answer(q.label or q.name, value)] if value is not None else []

    def _value(self, q: Question, node: DataNode, key: str) -> Value | None:
        if not q.is_asked:
            return None
        raw = next((v for v in node.get(q.name, []) if isinstance(v, str)), "").strip()
        if not raw:
            return None
        if q.is_sensitive:
            self.sensitive.add(q.path)
        attachment = None
        if q.type == "binary":
            attachment = raw
            self.attachments.append(raw)
        is_changed = self.before is not None and self.before.get(f"{key}{q.name}") != raw
        return Value(self._words(q, raw), q.type, attachment, is_changed)

    def _words(self, q: Question, raw: str) -> str:
        if q.type not in ("select1", "select"):
            return raw
        values = raw.split() if q.is_select_multiple else [raw]
        given = self.lookups.get(q.choice_list or "", {})
        return ", ".join(given.get(v) or self.labels.choice(q.choice_list, v) for v in values)

    def _repeat(
        self, repeat: Question, instances: list[str | DataNode], key: str
    ) -> list[Answer | RepeatTable]:
        nodes = [i for i in instances if isinstance(i, dict)]
        columns = self._columns(repeat.path)
        rows: list[tuple[Value | None, ...]] = []
        for n, node in enumerate(nodes, start=1):
            row = tuple(self._cell(q, node, f"{key}{n}/", repeat.path) for q in columns)
            if any(cell is not None for cell in row):
                rows.append(row)
        kept = [i for i, q in enumerate(columns) if any(row[i] is not None for row in rows)]
        if not rows:
            return []
        return [
            RepeatTable(
                label=repeat.label or repeat.name,
                columns=tuple(columns[i].label or columns[i].name for i in kept),
                rows=tuple(tuple(row[i] for i in kept) for row in rows),
            )
        ]

    def _columns(self, path: str) -> list[Question]:
        """The repeat's questions, those of groups inside it included; a repeat inside it
        is one column that counts its instances' answers."""
        out: list[Question] = []
        for q in self.children.get(path, []):
            if q.kind == "group":
                out.extend(self._columns(q.path))
            else:
                out.append(q)
        return out

    def _cell(self, q: Question, node: DataNode, key: str, repeat_path: str) -> Value | None:
        # the question's node inside this instance: through the groups between them
        rel = q.path[len(repeat_path) + 1 :].split("/")
        here: DataNode | None = node
        for part in rel[:-1]:
            here = _first_node(here, part) if here is not None else None
        if here is None:
            return None
        group_key = key + "".join(f"{p}/" for p in rel[:-1])
        if q.kind == "repeat":
            inner = self._repeat(q, here.get(q.name, []), f"{group_key}{q.name}#")
            if not inner or not isinstance(inner[0], RepeatTable):
                return None
            table = inner[0]
            text = "; ".join(", ".join(v.text for v in row if v is not None) for row in table.rows)
            return Value(text, "string", None, table.is_changed)
        return self._value(q, here, group_key)


def _first_node(node: DataNode, name: str) -> DataNode | None:
    for value in node.get(name, []):
        if isinstance(value, dict):
            return value
    return None
