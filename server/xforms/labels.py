"""The words a published form version uses for its questions, groups and choices, in one
language: what a page shows instead of the answers' codes.

Read from the version's XForm (pyxform's output, its ``itext`` translations) with the
same defusedxml parser as everything else from outside (``server.xml``), once per version:
:func:`labels_for` keeps what it read in memory, keyed by the version's id and the MD5 of
its XForm (a published version never changes; the MD5 keeps one process that serves two
databases, as the tests do, from mixing them up), and picks the language per call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from server.xforms.definition import (
    FieldDef,
    FormDefinition,
    FormKind,
    match_language,
    parse_definition,
    pick_label,
)
from server.xml import NS, parse_untrusted

# Controls that take no answer a person gives: a note is a read-only input, a trigger an
# acknowledgement the form asks for (it records "OK").
_NO_ANSWER_CONTROLS = {"", "trigger"}


@dataclass(frozen=True)
class Question:
    """One node of the form, with its words in the chosen language."""

    path: str  # relative to the form's root: "health/health_referral/health_service"
    name: str
    kind: str  # "field" | "group" | "repeat"
    type: str  # the bind type: string, date, dateTime, select1, select, binary, …
    label: str
    parent: str | None  # the path of the group or repeat that holds it
    repeat: str | None  # the innermost enclosing repeat
    choice_list: str | None
    choice_file: str | None  # the choices come from a file the server sends (services.csv…)
    # a person answers it: not a calculation, a hidden field, a note or the form's metadata
    is_asked: bool
    is_sensitive: bool  # it, or a group holding it, is marked casework:sensitive
    save_to: str | None = None  # the case property its answer becomes
    role: str | None = None  # casework:role (a repeat's: the kind of plan item it holds)

    @property
    def is_select_multiple(self) -> bool:
        return self.type == "select"


@dataclass(frozen=True)
class FormLabels:
    """A form version's words in one language (``language``, as the form names it)."""

    version_id: int
    form_id: str
    title: str
    language: str | None
    questions: tuple[Question, ...]  # in the form's order
    choices: Mapping[str, Mapping[str, str]]  # list -> value -> label
    is_registration: bool = False  # the form opens a case (its words come first)

    def question(self, path: str) -> Question | None:
        return self._by_path.get(path)

    @property
    def _by_path(self) -> dict[str, Question]:
        found: dict[str, Question] | None = self.__dict__.get("_index")
        if found is None:
            found = {q.path: q for q in self.questions}
            object.__setattr__(self, "_index", found)
        return found

    @property
    def children(self) -> dict[str | None, list[Question]]:
        """The questions each group or repeat holds (None: the form's top level), in order."""
        found: dict[str | None, list[Question]] | None = self.__dict__.get("_children")
        if found is None:
            found = {}
            for q in self.questions:
                found.setdefault(q.parent, []).append(q)
            object.__setattr__(self, "_children", found)
        return found

    def choice(self, list_id: str | None, value: str) -> str:
        """The label of ``value`` in ``list_id``; the value itself when the list (a file the
        server sends, say) does not have it."""
        if list_id is None:
            return value
        return self.choices.get(list_id, {}).get(value, value)

    def label(self, path: str) -> str:
        """The question's label, or its name when it has none (a hidden field)."""
        found = self.question(path)
        return found.label if found is not None else path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class _Read:
    """What one version's XForm says, in every language (the memory cache's value)."""

    definition: FormDefinition
    not_asked: frozenset[str]  # paths bound read-only or calculated


_cache: dict[tuple[int, str], _Read] = {}
# the same, in one language: what a page uses (built from the above, so cleared with it)
_built: dict[tuple[tuple[int, str], str | None], FormLabels] = {}
_lock = threading.Lock()
# Far more versions than a deployment publishes; a bound keeps a long-lived worker's memory flat.
MAX_CACHED = 500


def read_xform(xml: str | bytes) -> _Read:
    """Pure: the definition of an XForm and which of its nodes no one answers."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    root = parse_untrusted(raw, malformed="xform.invalid", forbidden="xform.invalid")
    definition = parse_definition(raw)
    return _Read(definition, _not_asked(root, definition.root_name))


def _not_asked(root: Element, root_name: str) -> frozenset[str]:
    prefix = f"/{root_name}/"
    found = set()
    for bind in root.iterfind("h:head/xf:model/xf:bind", NS):
        nodeset = bind.get("nodeset") or ""
        readonly = (bind.get("readonly") or "").strip().startswith("true")
        if (readonly or bind.get("calculate")) and nodeset.startswith(prefix):
            found.add(nodeset[len(prefix) :])
    return frozenset(found)


def language_for(definition: FormDefinition, wanted: str | None) -> str | None:
    """The form's language for a user who reads ``wanted`` (a locale code, "fr"), else the
    form's default language."""
    if wanted:
        found = match_language(definition.languages, wanted)
        if found is not None:
            return found
    return definition.default_language


def build_labels(version_id: int, read: _Read, wanted: str | None) -> FormLabels:
    """Pure: the words of one version (:func:`read_xform`) in the user's language."""
    d = read.definition
    language = language_for(d, wanted)
    sensitive = {f.path for f in d.fields if f.is_sensitive}
    questions = tuple(
        _question(f, d, language, read.not_asked, sensitive) for f in d.fields if not f.is_meta
    )
    choices = {
        list_id: {c.value: pick_label(c.labels, language, d.default_language) for c in items}
        for list_id, items in d.choices.items()
    }
    return FormLabels(
        version_id=version_id,
        form_id=d.form_id,
        title=d.title,
        language=language,
        questions=questions,
        choices=choices,
        is_registration=d.kind is FormKind.REGISTRATION,
    )


def _question(
    f: FieldDef,
    d: FormDefinition,
    language: str | None,
    not_asked: frozenset[str],
    sensitive: set[str],
) -> Question:
    parent = f.path.rsplit("/", 1)[0] if "/" in f.path else None
    ancestors = {f.path.rsplit("/", n)[0] for n in range(1, f.path.count("/") + 1)}
    asked = f.kind != "field" or (f.control not in _NO_ANSWER_CONTROLS and f.path not in not_asked)
    return Question(
        path=f.path,
        name=f.name,
        kind=f.kind,
        type=f.type,
        label=pick_label(f.labels, language, d.default_language) if f.labels else "",
        parent=parent,
        repeat=f.repeat,
        choice_list=f.choice_list,
        choice_file=f.choice_file,
        is_asked=asked,
        is_sensitive=f.path in sensitive or bool(ancestors & sensitive),
        save_to=f.save_to,
        role=f.role,
    )


def clear() -> None:
    """Forget every version read (tests: one process, many databases)."""
    with _lock:
        _cache.clear()
        _built.clear()


def cached(version_id: int, md5: str = "") -> bool:
    return (version_id, md5) in _cache


def labels_for(
    version_id: int, xml: str | bytes | None, wanted: str | None, md5: str = ""
) -> FormLabels:
    """The words of the version ``version_id`` (whose XForm has the MD5 ``md5``) in the
    user's language ``wanted`` (else the form's default). ``xml`` is read only the first
    time a process sees the version (it may be None after that: :func:`cached`)."""
    key = (version_id, md5)
    with _lock:
        read = _cache.get(key)
        built = _built.get((key, wanted)) if read is not None else None
    if read is None:
        if xml is None:
            raise KeyError(version_id)
        read = read_xform(xml)
        with _lock:
            if len(_cache) >= MAX_CACHED:
                _cache.clear()
                _built.clear()
            _cache[key] = read
    if built is None:
        built = build_labels(version_id, read, wanted)
        with _lock:
            if len(_built) >= MAX_CACHED:
                _built.clear()
            _built[(key, wanted)] = built
    return built
