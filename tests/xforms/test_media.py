"""Form media across versions: what a designer publishes is what the phones download."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

from tests.factories import DeviceClient, Factory

MAN = {"m": "http://openrosa.org/xforms/xformsManifest"}


def media_form(version: str, *names: str) -> str:
    rows = "\n".join(f"| | note | n{i} | Note | {name} |" for i, name in enumerate(names))
    return f"""
| settings |
| | form_id | version |
| | pictures | {version} |
| survey |
| | type | name | label | media::image |
{rows}
"""


def served(device: DeviceClient) -> dict[str, bytes]:
    manifest = ET.fromstring(device.get("/forms/pictures/manifest").data)
    out = {}
    prefix = f"http://localhost/key/{device.token}"
    for media in manifest.findall("m:mediaFile", MAN):
        body = device.get(media.findtext("m:downloadUrl", namespaces=MAN).removeprefix(prefix))
        assert (
            media.findtext("m:hash", namespaces=MAN) == "md5:" + hashlib.md5(body.data).hexdigest()
        )
        out[media.findtext("m:filename", namespaces=MAN)] = body.data
    return out


def test_a_new_version_keeps_the_media_it_is_not_given(make: Factory, device: DeviceClient):
    first = make.publish_md(
        media_form("1", "logo.png", "my map.png"), media={"logo.png": b"L1", "my map.png": b"M1"}
    )
    assert first.missing_media == ()
    second = make.publish_md(
        media_form("2", "logo.png", "my map.png", "new.png"), media={"logo.png": b"L2"}
    )
    assert second.is_new
    assert second.inherited_media == ("my map.png",)
    assert second.missing_media == ("new.png",)
    assert served(device) == {"logo.png": b"L2", "my map.png": b"M1"}
    # and the version after that inherits what the second one had
    third = make.publish_md(media_form("3", "logo.png"))
    assert third.inherited_media == ("logo.png",)
    assert served(device) == {"logo.png": b"L2"}


def test_publishing_an_unchanged_version_again_supplies_its_media(
    make: Factory, device: DeviceClient
):
    form = media_form("1", "logo.png", "map.png")
    first = make.publish_md(form, media={"logo.png": b"L1"})
    assert first.missing_media == ("map.png",)
    again = make.publish_md(form, media={"logo.png": b"L1", "map.png": b"M1"})
    assert not again.is_new
    assert again.updated_media == ("map.png",)  # logo.png is unchanged
    assert again.missing_media == ()
    assert served(device) == {"logo.png": b"L1", "map.png": b"M1"}
    changed = make.publish_md(form, media={"logo.png": b"L2"})
    assert changed.updated_media == ("logo.png",)
    assert served(device)["logo.png"] == b"L2"


def test_media_is_matched_by_name_whatever_the_characters(make: Factory, device: DeviceClient):
    names = ("a?b.png", "x:y*z.png", "fête 1.png")
    result = make.publish_md(
        media_form("1", *names), media={f"some/folder/{n}": n.encode() for n in names}
    )
    assert result.missing_media == ()
    assert served(device) == {n: n.encode() for n in names}
