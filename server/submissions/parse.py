"""Submission XML bytes -> SubmissionEnvelope. Pure: no Flask, no database.

Answers are kept as a DataNode: every element name maps to the list of its occurrences, in
document order, each a string (a leaf) or another DataNode (a group or repeat instance).
Always-lists keep repeats unambiguous without needing the form definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union
from xml.etree.ElementTree import Element

from server.errors import AppError
from server.xml import local_name, parse_untrusted

DataNode = dict[str, list[Union[str, "DataNode"]]]

# An instanceID is the submission's key: one longer than this cannot be kept as one. Collect's
# are "uuid:" and 36 characters.
MAX_ID_LENGTH = 255


@dataclass(frozen=True)
class EntityBlock:
    """A ``meta/entity`` element: what the device says it did to an entity-list row."""

    dataset: str
    entity_id: str
    create: bool
    update: bool
    base_version: int | None
    trunk_version: int | None
    branch_id: str | None
    label: str | None
    path: str  # path of the container holding the meta block ("" for the root)


@dataclass(frozen=True)
class SubmissionEnvelope:
    form_id: str
    version: str
    instance_id: str
    deprecated_id: str | None
    instance_name: str | None
    root_name: str
    data: DataNode
    entities: tuple[EntityBlock, ...] = ()
    is_encrypted: bool = False
    # encrypted submissions name their files in the manifest instead of in answers
    encrypted_files: tuple[str, ...] = field(default_factory=tuple)


def parse_envelope(xml: bytes) -> SubmissionEnvelope:
    root = parse_untrusted(
        xml, malformed="submission.malformed_xml", forbidden="submission.forbidden_xml"
    )
    form_id = root.get("id")
    if not form_id:
        raise AppError("submission.no_form_id")
    data = to_data_node(root)
    meta = first_node(data, "meta") or {}
    instance_id = (first_text(meta, "instanceID") or first_text(data, "instanceID") or "").strip()
    if not instance_id:
        raise AppError("submission.no_instance_id")
    if len(instance_id) > MAX_ID_LENGTH:
        raise AppError("submission.instance_id_too_long", details={"length": len(instance_id)})
    is_encrypted = (root.get("encrypted") or "").lower() == "yes"
    encrypted_files: tuple[str, ...] = ()
    if is_encrypted:
        media = first_node(data, "media") or {}
        names = [v for v in media.get("file", []) if isinstance(v, str) and v]
        xml_file = first_text(data, "encryptedXmlFile")
        encrypted_files = tuple(names + ([xml_file] if xml_file else []))
    return SubmissionEnvelope(
        form_id=form_id,
        version=root.get("version") or "",
        instance_id=instance_id,
        deprecated_id=(first_text(meta, "deprecatedID") or "").strip() or None,
        instance_name=(first_text(meta, "instanceName") or "").strip() or None,
        root_name=local_name(root.tag),
        data=data,
        entities=tuple(_entity_blocks(root, "")),
        is_encrypted=is_encrypted,
        encrypted_files=encrypted_files,
    )


def to_data_node(el: Element) -> DataNode:
    node: DataNode = {}
    for child in el:
        name = local_name(child.tag)
        value: str | DataNode = to_data_node(child) if len(child) else (child.text or "").strip()
        node.setdefault(name, []).append(value)
    return node


def first_node(node: DataNode, name: str) -> DataNode | None:
    for value in node.get(name, []):
        if isinstance(value, dict):
            return value
    return None


def first_text(node: DataNode, name: str) -> str | None:
    for value in node.get(name, []):
        if isinstance(value, str):
            return value
    return None


def values_at(node: DataNode, path: str) -> list[str]:
    """Every leaf value at a slash path, across repeat instances, in document order."""
    head, _, rest = path.partition("/")
    out: list[str] = []
    for value in node.get(head, []):
        if rest:
            if isinstance(value, dict):
                out.extend(values_at(value, rest))
        elif isinstance(value, str):
            out.append(value)
    return out


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _truthy(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true")


def _entity_blocks(el: Element, path: str) -> list[EntityBlock]:
    blocks: list[EntityBlock] = []
    for child in el:
        name = local_name(child.tag)
        if name == "meta":
            for entity in child:
                if local_name(entity.tag) != "entity" or not entity.get("dataset"):
                    continue
                label_el = next((c for c in entity if local_name(c.tag) == "label"), None)
                blocks.append(
                    EntityBlock(
                        dataset=entity.get("dataset", ""),
                        entity_id=(entity.get("id") or "").removeprefix("uuid:").strip(),
                        create=_truthy(entity.get("create")),
                        update=_truthy(entity.get("update")),
                        base_version=_int_or_none(entity.get("baseVersion")),
                        trunk_version=_int_or_none(entity.get("trunkVersion")),
                        branch_id=entity.get("branchId") or None,
                        label=(label_el.text or "").strip() or None
                        if label_el is not None
                        else None,
                        path=path,
                    )
                )
        elif len(child):
            blocks.extend(_entity_blocks(child, f"{path}/{name}".lstrip("/")))
    return blocks


def binary_attachment_names(data: DataNode, binary_paths: list[str]) -> list[str]:
    """File names the answers refer to: the attachments this submission should carry."""
    names: list[str] = []
    for path in binary_paths:
        for value in values_at(data, path):
            if value and value not in names:
                names.append(value)
    return names
