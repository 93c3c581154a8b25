"""Teams come from a list an admin keeps: every team input is a choice from it, so a
mistyped name cannot start a team of its own (whose supervisor would then see nobody's
cases, and whose caseworker nobody's supervisor)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from server.audit.models import AuditEvent
from server.auth.models import Team, User
from server.db import get_database
from tests.web.test_case_decisions import _flashes, _text


def _read(app: Any, stmt: Any) -> list[Any]:
    """Rows as committed (outside any request: a session kept open for the whole test
    would share the requests' app context, and with it their ``g``)."""
    with app.app_context():
        session = get_database(app).sessionmaker()
        try:
            return list(session.execute(stmt))
        finally:
            session.close()


def _users(app: Any) -> dict[str, str | None]:
    return dict(_read(app, select(User.username, User.team)))  # type: ignore[arg-type]


def _teams(app: Any) -> list[str]:
    return sorted(name for (name,) in _read(app, select(Team.name)))


def test_an_admin_keeps_the_list_of_teams(web_as: Any, app: Any) -> None:
    admin = web_as("adm", "admin")
    assert "No team yet." in admin.text("/teams")
    assert admin.post("/teams", {"name": "  North   Hills "}).headers["Location"] == "/teams"
    assert admin.post("/teams", {"name": "south"}).status_code == 302
    page = _text(admin.text("/teams"))
    assert "North Hills 0 accounts" in page
    assert "south 0 accounts" in page
    for name, said in (
        ("north hills", "A team with this name already exists."),
        ("SOUTH", "A team with this name already exists."),
        ("   ", "A team name is 1 to 80 characters."),
        ("x" * 81, "A team name is 1 to 80 characters."),
    ):
        refused = admin.post("/teams", {"name": name})
        assert said in _flashes(admin, refused.headers["Location"]), name
    assert _teams(app) == ["North Hills", "south"]
    added = _read(app, select(AuditEvent.target).where(AuditEvent.action == "team.create"))
    assert sorted(name for (name,) in added) == ["North Hills", "south"]


def test_every_team_input_is_a_choice_from_the_list(web_as: Any, make: Any, app: Any) -> None:
    make.team("north")
    make.team("south")
    admin = web_as("adm", "admin")
    for url in ("/users", "/users/adm"):
        page = admin.text(url)
        assert not re.search(r'<input[^>]*name="team"', page), url
        choice = page.split('<select id="f-team" name="team"')[1].split("</select>")[0]
        assert re.findall(r'<option value="([^"]*)"', choice) == ["", "north", "south"], url

    # a typo starts no team, and no account is made with it
    typo = {"username": "amina", "role": "caseworker", "team": "nort", "password": "x" * 12}
    refused = admin.post("/users", typo)
    assert "Choose a team from the list." in _flashes(admin, refused.headers["Location"])
    assert "amina" not in _users(app)
    assert admin.post("/users", {**typo, "team": "north"}).status_code == 302
    assert _users(app)["amina"] == "north"

    edit = {"role": "caseworker", "team": "sout", "is_active": "yes"}
    refused = admin.post("/users/amina", edit)
    assert "Choose a team from the list." in _flashes(admin, refused.headers["Location"])
    assert _users(app)["amina"] == "north"
    admin.post("/users/amina", {**edit, "team": "south"})
    assert _users(app)["amina"] == "south"
    admin.post("/users/amina", {**edit, "team": ""})
    assert _users(app)["amina"] is None
    assert _teams(app) == ["north", "south"]


def test_a_team_is_removed_only_once_nobody_is_in_it(web_as: Any, make: Any) -> None:
    make.user("amina", "caseworker", team="north")
    make.team("nrth")  # added by mistake
    admin = web_as("adm", "admin")
    page = _text(admin.text("/teams"))
    assert "north 1 account Move its members to remove it." in page
    assert 'aria-label="Remove the team nrth"' in admin.text("/teams")
    refused = admin.post("/teams/delete", {"name": "north"})
    assert "still has members" in _flashes(admin, refused.headers["Location"])
    assert admin.post("/teams/delete", {"name": "nrth"}).status_code == 302
    assert admin.post("/teams/delete", {"name": "nrth"}).status_code == 302
    assert "There is no team with this name." in _flashes(admin, "/teams")
    page = _text(admin.text("/teams"))
    assert "nrth" not in page
    assert "north" in page
    audit = _text(admin.text("/audit?action=team."))
    assert "adm Removed a team team.delete team nrth" in audit
