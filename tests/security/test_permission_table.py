"""The permission table (``server.auth.permissions``) against every route of the app.

Each route declares the action it needs with ``@requires(action)`` (read back from the view
as ``required_action``); a route without one fails here unless it is listed as public. The
roles the table gives each route's action must be those ``test_role_matrix.EXPECTED``
lets through that route, which that test proves by calling every route as every caller. So
a change to the table, or a route that asks for another action, shows up in both.

Run with ``-s`` to see the table printed as a matrix, action by role.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Blueprint, Flask

from server.auth import permissions
from server.auth.permissions import PERMISSIONS, ROLES, matrix, requires, roles_for
from tests.security.test_role_matrix import DEVICE_KEY, EXPECTED, PUBLIC

# Endpoints anyone may call: signing in and out, and the static files.
PUBLIC_ENDPOINTS = frozenset({"static", "web.static", "web.favicon", "web.login", "web.logout"})
SERVER = Path(__file__).resolve().parents[2] / "server"


def route_actions(app: Flask) -> tuple[dict[str, str | None], list[str]]:
    """Each "METHOD rule" -> the action its view requires (None: public), and the routes
    that declare none without being public."""
    found: dict[str, str | None] = {}
    undeclared: list[str] = []
    for rule in app.url_map.iter_rules():
        action = getattr(app.view_functions[rule.endpoint], "required_action", None)
        for method in sorted((rule.methods or set()) - {"OPTIONS", "HEAD"}):
            key = f"{method} {rule.rule}"
            found[key] = action
            if action is None and rule.endpoint not in PUBLIC_ENDPOINTS:
                undeclared.append(f"{key} ({rule.endpoint})")
    return found, undeclared


def test_prints_the_table_as_a_matrix() -> None:
    text = matrix()
    print("\n" + text)
    lines = text.splitlines()
    assert lines[0].split() == ["action", *ROLES]
    assert len(lines) == 1 + len(PERMISSIONS)
    for line, (action, roles) in zip(lines[1:], PERMISSIONS.items(), strict=True):
        name, *marks = line.split()
        assert name == action
        assert {r for r, m in zip(ROLES, marks, strict=True) if m == "x"} == roles


def test_every_route_declares_an_action_the_table_knows(app: Flask) -> None:
    found, undeclared = route_actions(app)
    assert not undeclared, f"routes with no @requires(action) and not public: {undeclared}"
    unknown = sorted({a for a in found.values() if a is not None} - PERMISSIONS.keys())
    assert not unknown, f"actions missing from PERMISSIONS: {unknown}"


def test_the_table_opens_each_route_to_the_roles_the_matrix_expects(app: Flask) -> None:
    found, _ = route_actions(app)
    wrong = []
    for key, action in sorted(found.items()):
        expected = EXPECTED.get(key)
        if expected is None:
            continue  # test_role_matrix fails on a route it does not list
        if action is None:
            if expected != PUBLIC:
                wrong.append(f"{key}: public here, {sorted(expected)} in the matrix")
            continue
        if expected == PUBLIC:
            wrong.append(f"{key}: needs {action}, public in the matrix")
        elif expected == DEVICE_KEY:
            # a device key is a caseworker's phone: the same action as the route without it
            twin = found.get(key.replace("/key/<token>", "", 1))
            if twin != action:
                wrong.append(f"{key}: {action}, but {twin} without the key")
        elif roles_for(action) != expected:
            wrong.append(
                f"{key}: {action} opens {sorted(roles_for(action))}, not {sorted(expected)}"
            )
    assert not wrong, "\n".join(wrong)


def test_a_route_without_an_action_is_caught(app: Flask) -> None:
    """The check above can fail: a route added with no ``@requires`` is reported, one with
    it is not."""
    extra = Blueprint("extra", __name__)
    extra.add_url_rule("/forgotten", "forgotten", lambda: "")
    extra.add_url_rule("/guarded", "guarded", requires("case.read")(lambda: ""))
    app.register_blueprint(extra)
    found, undeclared = route_actions(app)
    assert undeclared == ["GET /forgotten (extra.forgotten)"]
    assert found["GET /guarded"] == "case.read"


def test_an_unknown_action_is_refused_at_import() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        requires("case.reed")
    assert not permissions.may(None, "case.read")


# A role named in code: compared with a user's role, or written in a tuple or set of roles.
ROLE = r'"(?:admin|supervisor|caseworker|designer)"'
ROLE_CHECK = re.compile(
    rf"\.role\s*(?:==|!=)\s*{ROLE}|{ROLE}\s*(?:==|!=)|[(\[{{]\s*{ROLE}\s*,\s*{ROLE}"
    r"|\bhas_role\(|\bis_admin\b|\broles_required\b|\brequire_roles\b"
)


def test_no_role_is_decided_outside_the_table() -> None:
    found = []
    for path in sorted([*SERVER.rglob("*.py"), *SERVER.rglob("*.html")]):
        if path.name == "permissions.py" or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ROLE_CHECK.search(line):
                found.append(f"{path.relative_to(SERVER.parent)}:{number}: {line.strip()}")
    assert not found, "ask server.auth.permissions by action instead:\n" + "\n".join(found)
