"""Where sign-in sends a person next: only to a page of this server.

Browsers drop tabs, line breaks and leading control characters from a URL and read a
backslash as a slash, so ``/<TAB>/evil.example`` is ``//evil.example`` to them: a link
to another site. A ``next=`` is followed only when it is a plain path here; text holding
control characters is refused with a 400 (it never comes from a page of this server), and
anything else goes to the landing page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.factories import PASSWORD
from tests.web.conftest import Web

OFF_SITE = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",  # stays on this server as a path: allowed, but never off-site
    " //evil.example",
    "https:/evil.example",
    "/.//evil.example",  # a path on this server
    "\u3000//evil.example",
    "/\u2215/evil.example",
    # hosts that IDNA cannot encode: refused, never a server error
    "//a..b/",
    "//\u200b/evil.example",
    "//" + "a" * 70 + ".example/",
]
CONTROL = [
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "%09//evil.example",
    "/%00/evil.example",
    "/%1f/evil.example",
    "/%7f/evil.example",
    "/cases%0d%0aSet-Cookie:%20x=1",
]


def _is_same_site(location: str) -> bool:
    parts = urlsplit(location)
    return (
        not parts.scheme
        and not parts.netloc
        and location.startswith("/")
        and not location.startswith("//")
        and "\\" not in location
        and location.isprintable()
    )


@pytest.mark.parametrize("target", OFF_SITE)
def test_sign_in_never_redirects_off_site(web: Web, make: Any, target: str) -> None:
    make.user("cw", "caseworker")
    response = web.post(
        "/login", {"username": "cw", "password": PASSWORD, "next": target}, csrf=True
    )
    assert response.status_code == 302
    assert _is_same_site(response.headers["Location"]), response.headers["Location"]


@pytest.mark.parametrize("target", CONTROL)
def test_control_characters_in_next_are_a_400(web: Web, make: Any, target: str) -> None:
    make.user("cw", "caseworker")
    response = web.post(f"/login?next={target}", {"username": "cw", "password": PASSWORD})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "next=" in text or "NUL" in text
    assert "Location" not in response.headers
    # signed in already, a GET would redirect at once: the same answer
    assert web.login("cw").status_code == 302
    response = web.get(f"/login?next={target}")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_a_newline_in_next_is_a_400_before_sign_in(web: Web) -> None:
    response = web.get("/login?next=/%0a/x")
    assert response.status_code == 400
    assert "(next=) holds control characters" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "target", ["/cases", "/cases/CP-1?tab=plan", "/forms/my%20form", "/services?q=a%20b"]
)
def test_a_path_on_this_server_is_followed(web: Web, make: Any, target: str) -> None:
    make.user("cw", "caseworker")
    response = web.post(
        f"/login?next={target.replace('?', '%3F')}", {"username": "cw", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == target


def test_the_sign_in_page_sends_next_back(web: Web) -> None:
    response = web.get("/cases?tab=open")
    assert response.status_code == 302
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="/cases?tab=open"' in page


@pytest.mark.parametrize("target", ["//a..b/", "//\u200b/x", "//" + "a" * 70 + ".example/"])
def test_a_host_idna_cannot_encode_is_no_error_before_sign_in(web: Web, target: str) -> None:
    response = web.get(f"/login?next={target}")
    assert response.status_code == 200
