"""The queues page offers a look at what a merge will change before it is done."""

from __future__ import annotations

import re
from typing import Any

from tests.api.test_merge_preview import _scenario
from tests.factories import Factory


def test_the_merge_preview_page_shows_the_changes_and_merges_only_when_asked(
    make: Factory, web_as: Any
) -> None:
    _scenario(make)
    sup = web_as("sup-p", "supervisor", team="north")
    queues = sup.text("/queues")
    link = re.search(r'href="(/queues/duplicate/preview\?instance_id=[^"]+)"', queues)
    assert link is not None
    page = sup.text(link.group(1).replace("&amp;", "&"))
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Merge into CP-P-1: what will change" in text
    assert "Risk level high low" in text
    assert "Owner: cw-n → cw-n2" in text
    assert "Nothing has changed yet." in text
    # still waiting: the preview merged nothing
    assert "uuid:dup-p" in sup.text("/queues")
    merged = sup.post("/queues/duplicate", {"instance_id": "uuid:dup-p", "action": "merge"})
    assert merged.status_code == 302
    assert "uuid:dup-p" not in sup.text("/queues")
