"""Submission XML -> SubmissionEnvelope, as Collect serialises instances. Pure."""

from __future__ import annotations

import pytest

from server.errors import AppError
from server.submissions.parse import binary_attachment_names, parse_envelope, values_at

COLLECT = b"""<?xml version='1.0' ?><data id="case_plan" version="2026112201"
 xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms">
<about><case_ref>CP-1</case_ref></about>
<needs_group><needs><need_title>Safety</need_title><photo>a.jpg</photo></needs>
<needs><need_title>School</need_title><photo/></needs></needs_group>
<meta><entity dataset="cases" create="1" update="0" id="uuid:0d9c2b6e-5f7a-4c1b-9e8d-7a6b5c4d3e2f"
 baseVersion="" trunkVersion="" branchId=""><label>CP-1 (high risk)</label></entity>
<orx:instanceID>uuid:11111111-2222-4333-8444-555555555555</orx:instanceID>
<orx:instanceName>CP-1 2026-11-20</orx:instanceName><orx:deprecatedID>uuid:old</orx:deprecatedID>
</meta></data>"""


def test_reads_identity_meta_and_entity_block():
    env = parse_envelope(COLLECT)
    assert (env.form_id, env.version) == ("case_plan", "2026112201")
    assert env.instance_id == "uuid:11111111-2222-4333-8444-555555555555"
    assert env.instance_name == "CP-1 2026-11-20"
    assert env.deprecated_id == "uuid:old"
    (entity,) = env.entities
    assert entity.dataset == "cases"
    assert entity.entity_id == "0d9c2b6e-5f7a-4c1b-9e8d-7a6b5c4d3e2f"  # uuid: prefix dropped
    assert entity.create
    assert not entity.update
    assert entity.base_version is None
    assert entity.label == "CP-1 (high risk)"


def test_repeats_are_lists_in_document_order():
    env = parse_envelope(COLLECT)
    assert values_at(env.data, "needs_group/needs/need_title") == ["Safety", "School"]
    assert binary_attachment_names(env.data, ["needs_group/needs/photo"]) == ["a.jpg"]


def test_instance_id_at_the_root_is_accepted():
    env = parse_envelope(b'<data id="f"><instanceID>uuid:x</instanceID></data>')
    assert env.instance_id == "uuid:x"


def test_encrypted_manifest_names_its_files():
    env = parse_envelope(
        b'<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="f" encrypted="yes">'
        b"<meta><instanceID>uuid:e</instanceID></meta><media><file>1.jpg.enc</file></media>"
        b"<encryptedXmlFile>submission.xml.enc</encryptedXmlFile></data>"
    )
    assert env.is_encrypted
    assert env.encrypted_files == ("1.jpg.enc", "submission.xml.enc")


@pytest.mark.parametrize(
    ("xml", "code"),
    [
        (b"<data id='f'>", "submission.malformed_xml"),
        (b'<!DOCTYPE d [<!ENTITY e "x">]><data id="f">&e;</data>', "submission.forbidden_xml"),
        (b"<data><meta><instanceID>uuid:1</instanceID></meta></data>", "submission.no_form_id"),
        (b'<data id="f"><meta/></data>', "submission.no_instance_id"),
    ],
)
def test_refusals_carry_catalogue_codes(xml: bytes, code: str):
    with pytest.raises(AppError) as caught:
        parse_envelope(xml)
    assert caught.value.code == code
