"""The directory page offers the forms' service categories as a select, and says what is
wrong with a service that cannot be added."""

from __future__ import annotations

import re
from typing import Any

from tests.web import seed


def test_the_service_page_offers_the_forms_categories(make: Any, web_as: Any) -> None:
    seed.publish_case_forms(make)
    sup = web_as("sup", "supervisor", team="north")
    page = sup.text("/services/new")
    select = re.search(r'<select id="f-category" name="category"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None
    options = re.findall(r'<option value="([^"]*)"', select.group(1))
    assert options == [
        "",
        "health",
        "education",
        "psychosocial",
        "alternative_care",
        "cash_assistance",
        "wash",
        "food",
        "legal_aid",
        "other",
    ]
    assert "Legal aid (legal_aid)" in select.group(1)

    bad = sup.post("/services/new", {"service_id": "bad id!", "name": "X", "category": "health"})
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "services file could not be read" not in text
    assert "The service was not saved" in text
    assert "service_id" in text

    legal = sup.post("/services/new", {"service_id": "l-1", "name": "Legal", "category": "legal"})
    assert legal.status_code == 400
    assert "legal_aid (Legal aid)" in legal.get_data(as_text=True)


def test_the_categories_are_named_in_the_pages_language(make: Any, web_as: Any) -> None:
    seed.publish_case_forms(make)
    sup = web_as("sup", "supervisor", team="north")
    french = sup.get("/services/new", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Aide juridique (legal_aid)" in french
    arabic = sup.get("/services/new", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert "Legal aid" not in arabic
