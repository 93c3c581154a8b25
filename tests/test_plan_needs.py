"""A registering case plan names at least one specific protection need of the child."""

from __future__ import annotations

import html
import re

from tests.realforms import xform


def test_a_new_plan_cannot_be_finalized_without_a_protection_need() -> None:
    form = xform("case_plan")
    count = re.search(r'<bind nodeset="/data/needs_group/need_count"[^>]*>', form)
    assert count is not None
    assert "count( /data/needs_group/needs [need_category != ''])" in html.unescape(count.group(0))
    check = re.search(r'<bind nodeset="/data/needs_group/needs_missing"[^>]*>', form)
    assert check is not None
    bind = html.unescape(check.group(0))
    assert 'required="true()"' in bind
    assert 'constraint=" /data/needs_group/need_count  > 0"' in bind
    assert (
        "relevant=\" /data/about/plan_type  = 'new' and  /data/needs_group/need_count  = 0\""
        in (bind)
    )
    assert re.search(r'<trigger ref="/data/needs_group/needs_missing"', form)
