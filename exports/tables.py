"""Table shapes and rows for exports: plain data in, rows out. Pure (no Flask, no database).

A form export is a main table plus one table per repeat (nested repeats too), linked the way
ODK Central links them: every table ends with ``KEY``; repeat tables also carry
``PARENT_KEY``. The main ``KEY`` is the submission's instanceID; a repeat row's key is
``f"{parent_key}/{repeat_path}[{n}]"`` where ``repeat_path`` is the repeat's path relative
to its parent container (groups included) and ``n`` counts from 1.

The other export shapes have modules of their own: the case tables
(``exports.cases``), GeoJSON points (``exports.geo``), and the formula neutralising
every writer applies to cells (``exports.cells``).

Metadata columns (fixed names whatever the options, so reports built on them keep working):

- ``SubmissionDate``: ``received_at`` in UTC, ISO 8601 with milliseconds and ``Z``
  (first column of the main table, as in Central);
- ``instanceID`` / ``instanceName``: the form's own ``meta`` fields, named like any other
  field (``meta-instanceID`` with group paths);
- ``KEY``: the instanceID again, the join key for repeat tables' ``PARENT_KEY``;
- ``SubmitterName``: the submitter's username; ``Device``: the device label;
- ``ReviewState`` and ``FormVersion``: the submission's review state and form version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from typing import Any, Union

from exports.cells import Cell, Row
from exports.options import ExportOptionError, ExportOptions

# Same shape as server.submissions.parse.DataNode (not imported: this module stays pure).
DataNode = dict[str, list[Union[str, "DataNode"]]]

META_COLUMNS_AFTER = ("KEY", "SubmitterName", "Device", "ReviewState", "FormVersion")
NUMERIC_TYPES = frozenset({"int", "decimal", "geopoint", "geotrace", "geoshape"})
_KEPT_META = frozenset({"meta/instanceID", "meta/instanceName"})


# -- tables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column: a header, where its value comes from and how to render it.

    ``source`` is ``"meta"`` (a submission attribute named by ``path``), ``"field"`` (an
    answer at ``path`` relative to the table's repeat), ``"choice"`` (the 0/1 column of
    ``choice`` in a split select-multiple), or ``"key"``/``"parent_key"``.
    """

    name: str
    source: str
    path: str = ""
    type: str = "string"
    choice: str | None = None

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


@dataclass(frozen=True)
class TableSpec:
    """One output table (a CSV file or a sheet). ``repeat`` is None for the main table."""

    name: str
    columns: tuple[Column, ...]
    repeat: str | None = None
    parent: str | None = None  # repeat path of the parent table (None: the main table)
    # choice value -> label, per field path, when labels were asked for
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def headers(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class FieldInfo:
    """A field of the merged (all-versions) form."""

    path: str
    name: str
    kind: str
    type: str
    repeat: str | None
    label: str
    is_select_multiple: bool
    is_sensitive: bool
    choices: tuple[tuple[str, str], ...]  # (value, label) in form order


def sensitive_paths(definitions: Sequence[Any]) -> frozenset[str]:
    """Paths of the sensitive nodes of a form: those marked ``casework:sensitive`` in any
    of its versions, and everything inside a group or repeat so marked (the mark covers the
    whole group). The one list of what leaves the server only for an admin, in exports
    (CSV, XLSX, GeoJSON, media) and through the submissions API alike."""
    marked = {f.path for d in definitions for f in d.fields if f.is_sensitive}
    if not marked:
        return frozenset()
    return frozenset(f.path for d in definitions for f in d.fields if _is_within(f.path, marked))


def _is_within(path: str, marked: set[str]) -> bool:
    """``path`` is one of ``marked`` or lies inside one of them."""
    parts = path.split("/")
    return any("/".join(parts[:n]) in marked for n in range(1, len(parts) + 1))


def without_sensitive(
    node: DataNode, paths: frozenset[str], prefix: str = ""
) -> tuple[DataNode, set[str]]:
    """The answers without those at ``paths`` (whole groups and repeats included), and the
    values that were left out (the names of the files that answer them among them)."""
    kept: DataNode = {}
    hidden: set[str] = set()
    for name, values in node.items():
        path = f"{prefix}{name}"
        if path in paths:
            hidden.update(_leaves(values))
            continue
        out: list[str | DataNode] = []
        for value in values:
            if isinstance(value, dict):
                sub, gone = without_sensitive(value, paths, f"{path}/")
                out.append(sub)
                hidden |= gone
            else:
                out.append(value)
        kept[name] = out
    return kept, hidden


def _leaves(values: Sequence[str | DataNode]) -> set[str]:
    found: set[str] = set()
    for value in values:
        if isinstance(value, dict):
            for inner in value.values():
                found |= _leaves(inner)
        elif value:
            found.add(value)
    return found


def merge_fields(definitions: Sequence[Any], language: str | None = None) -> list[FieldInfo]:
    """The union of fields over every version, in form order.

    ``definitions`` are FormDefinition objects (oldest first). The newest version gives the
    order and the labels; a field only in older versions is placed after the field that
    preceded it there. A field sensitive in any version counts as sensitive.
    """
    if not definitions:
        return []
    newest = definitions[-1]
    lang = _pick_language(definitions, language)
    order: list[str] = [f.path for f in newest.fields]
    by_path: dict[str, Any] = {f.path: f for f in newest.fields}
    sensitive = sensitive_paths(definitions)
    choice_sets: dict[str, dict[str, str]] = {}
    for d in reversed(definitions):
        previous: str | None = None
        for f in d.fields:
            if f.path not in by_path:
                by_path[f.path] = f
                at = order.index(previous) + 1 if previous is not None else 0
                order.insert(at, f.path)
            previous = f.path
            if f.choice_list and f.choice_list in d.choices:
                seen = choice_sets.setdefault(f.path, {})
                for c in d.choices[f.choice_list]:
                    seen.setdefault(c.value, newest.label(c.labels, lang) or c.value)
    out = []
    for path in order:
        f = by_path[path]
        out.append(
            FieldInfo(
                path=path,
                name=f.name,
                kind=f.kind,
                type=f.type,
                repeat=f.repeat,
                label=newest.label(f.labels, lang) or f.name,
                is_select_multiple=f.control == "select",
                is_sensitive=path in sensitive,
                choices=tuple(choice_sets.get(path, {}).items()),
            )
        )
    return out


def _pick_language(definitions: Sequence[Any], language: str | None) -> str | None:
    """The label language of an export: the one asked for, as the forms name it ("French
    (fr)") or by its code ("fr"); else the newest version's default language."""
    newest = definitions[-1]
    if language is None:
        return newest.default_language or (newest.languages[0] if newest.languages else None)
    known: list[str] = []
    for d in reversed(definitions):
        known.extend(lang for lang in d.languages if lang not in known)
    if not known:
        return language
    for d in reversed(definitions):
        found = d.language_named(language)
        if found is not None:
            return str(found)
    raise ExportOptionError(f"the form has no language {language!r}; it has {known}")


def form_tables(
    definitions: Sequence[Any], options: ExportOptions, form_id: str | None = None
) -> list[TableSpec]:
    """Tables for one form across all its versions (oldest first): main table, then repeats.

    Groups are not columns; ``meta`` is skipped except instanceID and instanceName; sensitive
    fields (see :func:`sensitive_paths`) and the tables of sensitive repeats are left out
    unless ``options.include_sensitive``.
    """
    if not definitions:
        raise ExportOptionError("the form has no published version")
    name = form_id or definitions[-1].form_id
    fields_ = merge_fields(definitions, options.language)
    repeats = [f for f in fields_ if f.kind == "repeat"]
    # named over every repeat, so that a table keeps its name whatever is left out
    repeat_names = _repeat_table_names(name, [r.path for r in repeats])
    # a sensitive repeat is left out whole (its rows would still tell how many there were)
    repeats = [r for r in repeats if options.include_sensitive or not r.is_sensitive]
    tables: list[TableSpec] = []
    for repeat in [None, *repeats]:
        rpath = repeat.path if repeat else None
        members = [
            f
            for f in fields_
            if f.kind == "field"
            and f.repeat == rpath
            and (not f.path.startswith("meta/") or f.path in _KEPT_META)
            and (options.include_sensitive or not f.is_sensitive)
        ]
        columns: list[Column] = []
        if repeat is None:
            columns.append(Column("SubmissionDate", "meta", "received_at", "dateTime"))
        labels: dict[str, dict[str, str]] = {}
        headers = _headers(members, rpath, options)
        for f, header in zip(members, headers, strict=True):
            rel = f.path[len(rpath) + 1 :] if rpath else f.path
            columns.append(Column(header, "field", rel, f.type))
            if options.labels and f.choices:
                labels[rel] = dict(f.choices)
            if f.is_select_multiple and options.split_select_multiple:
                for value, label in f.choices:
                    suffix = label if options.labels else value
                    columns.append(Column(f"{header}/{suffix}", "choice", rel, "int", value))
        if repeat is None:
            columns.append(Column("KEY", "key"))
            columns.extend(
                Column(n, "meta", attr)
                for n, attr in zip(
                    META_COLUMNS_AFTER[1:],
                    ("submitter", "device", "review_state", "form_version"),
                    strict=True,
                )
            )
            tables.append(TableSpec(name, tuple(columns), None, None, labels))
        else:
            columns.extend([Column("PARENT_KEY", "parent_key"), Column("KEY", "key")])
            spec = TableSpec(
                repeat_names[repeat.path], tuple(columns), repeat.path, repeat.repeat, labels
            )
            tables.append(spec)
    return tables


def _repeat_table_names(form_id: str, paths: list[str]) -> dict[str, str]:
    """``<form_id>-<repeat name>`` as Central names them; the path when names repeat."""
    names: dict[str, str] = {}
    short = [p.rsplit("/", 1)[-1] for p in paths]
    for path, s in zip(paths, short, strict=True):
        names[path] = f"{form_id}-{s if short.count(s) == 1 else path.replace('/', '-')}"
    return names


def _headers(members: list[FieldInfo], rpath: str | None, options: ExportOptions) -> list[str]:
    def rel(f: FieldInfo) -> str:
        return f.path[len(rpath) + 1 :] if rpath else f.path

    if options.labels:
        first = [f.label for f in members]
        fallback = [f"{f.label} ({rel(f).replace('/', '-')})" for f in members]
    elif options.group_paths:
        first = [rel(f).replace("/", "-") for f in members]
        fallback = first
    else:
        first = [f.name for f in members]
        fallback = [rel(f).replace("/", "-") for f in members]
    taken = {"SubmissionDate", "KEY", "PARENT_KEY", *META_COLUMNS_AFTER}
    out = []
    for a, b in zip(first, fallback, strict=True):
        name = a if first.count(a) == 1 and a not in taken else b
        while name in taken:
            name = f"{name}_"
        taken.add(name)
        out.append(name)
    return out


# -- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionRecord:
    """One current, readable submission with the names its ids stand for."""

    instance_id: str
    data: DataNode
    received_at: datetime
    submitter: str | None = None
    device: str | None = None
    form_version: str = ""
    review_state: str = "received"


def iso_utc(value: datetime | None) -> str:
    """``2024-05-01T09:30:00.000Z``: the timestamp format of every export column."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def path_segments(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


def _leaf(node: DataNode, segments: tuple[str, ...]) -> str:
    for name in segments[:-1]:
        occurrences = node.get(name)
        if not occurrences or not isinstance(occurrences[0], dict):
            return ""
        node = occurrences[0]
    occurrences = node.get(segments[-1])
    if not occurrences:
        return ""
    value = occurrences[0]
    return value if isinstance(value, str) else ""


# A submission as form exports read it, names resolved and blanks as "":
# (instance_id, data, SubmissionDate text, submitter, device, review_state, form_version)
SubmissionRow = tuple[str, DataNode, str, str, str, str, str]
# the SubmissionRow fields after ``data``, in order, by the attribute a meta column names
_META_ATTRS = ("received_at", "submitter", "device", "review_state", "form_version")

_BLANK_LEAF: list[str | DataNode] = [""]
_EMPTY_NODE: DataNode = {}
_BLANK_GROUP: list[str | DataNode] = [_EMPTY_NODE]
_first = itemgetter(0)


def submission_row(record: SubmissionRecord) -> SubmissionRow:
    """The row form of a :class:`SubmissionRecord` (``None`` names become blanks)."""
    return (
        record.instance_id,
        record.data,
        iso_utc(record.received_at),
        record.submitter or "",
        record.device or "",
        record.review_state or "",
        record.form_version or "",
    )


class _Reader:
    """Reads the answers at a set of leaf paths from one node, walking each group once.

    ``order`` is the order the values come out in (leaves of this level, then each group's).
    The fast path is two C-level ``map`` calls per level; a value that is not a string (a
    group where an older version had a field) is blanked afterwards, per batch.
    """

    def __init__(self, paths: Sequence[str], prefix: str = "") -> None:
        leaves: list[str] = []
        nested: dict[str, list[str]] = {}
        for path in paths:
            head, sep, rest = path.partition("/")
            if sep:
                nested.setdefault(head, []).append(rest)
            elif head not in leaves:
                leaves.append(head)
        self.names = tuple(leaves)
        self.blanks = (_BLANK_LEAF,) * len(leaves)
        self.groups = [(name, _Reader(rest, f"{prefix}{name}/")) for name, rest in nested.items()]
        self.order = [prefix + n for n in self.names]
        for _name, group in self.groups:
            self.order.extend(group.order)
        self.segments = [path_segments(p[len(prefix) :]) for p in self.order]

    def read(self, node: DataNode, out: list[Any]) -> None:
        get = node.get
        # IndexError on an element present with no occurrence: the caller falls back
        out += map(_first, map(get, self.names, self.blanks))
        for name, group in self.groups:
            inner = get(name, _BLANK_GROUP)[0]
            if inner.__class__ is not dict:
                inner = _EMPTY_NODE
            if group.groups:
                group.read(inner, out)
            else:  # the usual group of plain fields (meta, say): no call
                out += map(_first, map(inner.get, group.names, group.blanks))

    def read_slowly(self, node: DataNode) -> list[Any]:
        """The same values, one path at a time (odd data only)."""
        return [_leaf(node, segments) for segments in self.segments]


def _labelled(labels: Mapping[str, str]) -> Callable[[Any], str]:
    def label(value: Any) -> str:
        if value.__class__ is not str or not value:
            return ""
        # select-multiple answers are space-separated values; labels may hold spaces
        return "; ".join(labels.get(p, p) for p in value.split())

    return label


def _chosen(choice: str) -> Callable[[Any], str]:
    def chosen(value: Any) -> str:
        if value.__class__ is not str or not value:
            return ""
        return "1" if choice in value.split() else "0"

    return chosen


class _TablePlan:
    """One table's row recipe, compiled once per export from its columns.

    A row is built as a flat list of values (the answers the table reads, then the key, the
    parent key, the submission's metadata, then derived cells such as labels) and picked
    into column order by one ``itemgetter``; nothing is decided per cell.
    """

    def __init__(self, index: int, spec: TableSpec) -> None:
        self.index = index
        self.children: list[tuple[_TablePlan, tuple[str, ...], str, str]] = []
        paths = [c.path for c in spec.columns if c.source in ("field", "choice")]
        self.reader = _Reader(paths)
        where = {path: i for i, path in enumerate(self.reader.order)}
        n = len(where)
        key, parent, meta = n, n + 1, n + 2
        self.transforms: list[tuple[int, Callable[[Any], str]]] = []
        self.uses_meta = any(
            c.source in ("meta", "choice") or c.path in spec.labels for c in spec.columns
        )
        positions: list[int] = []
        for column in spec.columns:
            if column.source == "key":
                positions.append(key)
            elif column.source == "parent_key":
                positions.append(parent)
            elif column.source == "meta":
                positions.append(meta + _META_ATTRS.index(column.path))
            elif column.source == "choice":
                if column.choice is None:
                    raise ValueError(f"choice column {column.path} without its choice")
                self.transforms.append((where[column.path], _chosen(column.choice)))
                positions.append(meta + len(_META_ATTRS) + len(self.transforms) - 1)
            elif column.source == "field" and column.path in spec.labels:
                self.transforms.append((where[column.path], _labelled(spec.labels[column.path])))
                positions.append(meta + len(_META_ATTRS) + len(self.transforms) - 1)
            elif column.source == "field":
                positions.append(where[column.path])
            else:
                raise ValueError(f"a form table has no {column.source!r} column")
        self.pick: Callable[[list[Any]], tuple[Cell, ...]] = (
            itemgetter(*positions) if len(positions) > 1 else lambda v: (v[positions[0]],)
        )

    def emit(
        self,
        node: DataNode,
        key: str,
        parent: str,
        meta: tuple[str, ...],
        out: list[list[Sequence[Cell]]],
    ) -> None:
        reader = self.reader
        values: list[Any]
        try:
            if reader.groups:
                values = []
                reader.read(node, values)
            else:
                values = [*map(_first, map(node.get, reader.names, reader.blanks))]
        except IndexError:
            values = reader.read_slowly(node)
        values.append(key)
        values.append(parent)
        if self.uses_meta:
            values += meta
        if self.transforms:
            for source, transform in self.transforms:
                values.append(transform(values[source]))
        out[self.index].append(self.pick(values))
        for child, walk, last, rel in self.children:
            inner = node
            for name in walk:
                occurrences = inner.get(name)
                if not occurrences or occurrences[0].__class__ is not dict:
                    break
                inner = occurrences[0]
            else:
                for n, instance in enumerate(inner.get(last, ()), start=1):
                    child.emit(
                        instance if instance.__class__ is dict else _EMPTY_NODE,
                        f"{key}/{rel}[{n}]",
                        key,
                        meta,
                        out,
                    )


class RowBuilder:
    """Rows of every table of a form export, a batch of submissions at a time.

    The main ``KEY`` is the instanceID; a repeat row's key is ``f"{parent_key}/{rel}[{n}]"``
    (see the module docstring). Cells are strings; blanks are ``""``.
    """

    def __init__(self, tables: Sequence[TableSpec]) -> None:
        self.plans = [_TablePlan(i, t) for i, t in enumerate(tables)]
        by_repeat = {t.repeat: plan for t, plan in zip(tables, self.plans, strict=True)}
        for t, plan in zip(tables, self.plans, strict=True):
            if t.repeat is None:
                continue
            owner = by_repeat[t.parent]
            parent_path = tables[owner.index].repeat
            rel = t.repeat[len(parent_path) + 1 :] if parent_path else t.repeat
            segments = path_segments(rel)
            owner.children.append((plan, segments[:-1], segments[-1], rel))
        self.main = by_repeat[None]

    def build(self, submissions: Iterable[SubmissionRow]) -> list[list[Sequence[Cell]]]:
        """``out[i]``: the rows of table ``i`` for these submissions, in submission order."""
        out: list[list[Sequence[Cell]]] = [[] for _ in self.plans]
        emit = self.main.emit
        for instance_id, data, *meta in submissions:
            emit(data, instance_id, "", tuple(meta), out)
        for table in out:
            try:
                "".join(chain.from_iterable(table))  # type: ignore[arg-type]
            except TypeError:  # a group where a field was expected: blank it
                table[:] = [tuple(v if v.__class__ is str else "" for v in r) for r in table]
        return out


def rows(
    tables: Sequence[TableSpec], submissions: Iterable[SubmissionRecord]
) -> Iterator[tuple[int, Row]]:
    """Every row of every table in one pass: ``(table index, row)``.

    For each submission the main row comes first, then its repeat rows table by table, so
    a consumer can stream the main table and spool the others.
    """
    builder = RowBuilder(tables)
    for record in submissions:
        for index, table in enumerate(builder.build([submission_row(record)])):
            for row in table:
                yield index, list(row)
