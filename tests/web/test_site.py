"""Every page names its icon (and the conventional /favicon.ico answers, for a browser
that opens a JSON or XML answer); a page not found says which address was asked for and
links back to where the reader can go on."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Web
from tests.web.test_case_decisions import _text
from tests.web.test_cases import _two_teams


def test_every_page_links_an_icon_that_is_served(web: Web, web_as: Any) -> None:
    for page in (web.text("/login"), web_as("adm", "admin").text("/users")):
        assert '<link rel="icon" href="/web/static/favicon.ico"' in page
        assert '<link rel="icon" href="/web/static/favicon.svg" type="image/svg+xml">' in page
    icon = web.get("/web/static/favicon.ico")
    assert icon.status_code == 200
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO
    svg = web.get("/web/static/favicon.svg")
    assert svg.status_code == 200
    assert svg.mimetype == "image/svg+xml"
    conventional = web.get("/favicon.ico")
    assert conventional.status_code == 200
    assert conventional.data == icon.data


def test_a_page_not_found_says_what_and_links_back(make: Any, web: Web, web_as: Any) -> None:
    _two_teams(make)
    sup = web_as("sup-n", "supervisor", team="north")
    missing = sup.get("/cases/CP-NOPE-9")
    assert missing.status_code == 404
    text = _text(missing.get_data(as_text=True))
    assert "Page not found · Casework" in text
    assert "There is no case with this reference number." in text
    assert "The address asked for: /cases/CP-NOPE-9" in text
    assert '<a href="/cases">Go to the case list</a>' in missing.get_data(as_text=True)
    assert '<a href="/">Go to the front page</a>' in missing.get_data(as_text=True)
    # a case of another team is not found either, and says no more
    other = _text(sup.text("/cases/CP-S1", status=404))
    assert "There is no case with this reference number." in other

    nowhere = sup.get("/no/such/page")
    assert nowhere.status_code == 404
    text = _text(nowhere.get_data(as_text=True))
    assert "Nothing is found at this address." in text
    assert "The address asked for: /no/such/page" in text
    assert "Go to the case list" not in text
    # a list the reader may not open is not offered
    assert "Go to the users" not in _text(sup.text("/users/nobody", status=403))
    admin = web_as("adm", "admin")
    assert "Go to the users" in _text(admin.text("/users/nobody", status=404))

    # signed out: the same page, and the front page leads to signing in
    anonymous = _text(web.text("/no/such/page", status=404))
    assert "Nothing is found at this address." in anonymous
    # the API and the devices keep their own answers
    assert web.get("/api/v1/nothing").json["code"] == "request.not_found"


def test_a_path_is_shown_as_text(web: Web) -> None:
    page = web.text("/%3Cscript%3Ealert(1)%3C/script%3E", status=404)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
