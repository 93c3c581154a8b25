"""The export page offers the formats of the one registry (``exports.formats``)."""

from __future__ import annotations

import re
from typing import Any

from exports.formats import CASE_FORMATS, FORM_FORMATS, FORMATS
from tests.factories import SIMPLE_FORM, Factory


def test_the_export_page_lists_the_registry_s_formats(make: Factory, web_as: Any) -> None:
    make.publish_md(SIMPLE_FORM)
    html = web_as("adm", "admin").text("/exports")
    form_select, case_select = re.findall(
        r'<select id="f-(?:form|case)-format".*?</select>', html, re.S
    )
    options = r'<option value="([a-z]+)">([^<]+)</option>'
    assert re.findall(options, form_select) == [(n, FORMATS[n].label) for n in FORM_FORMATS]
    assert re.findall(options, case_select) == [(n, FORMATS[n].label) for n in CASE_FORMATS]
