"""The suite's own machinery (tests/conftest.py): what a worker shares between tests must
give each test what it would have had on its own."""

from __future__ import annotations

import pytest
from flask import Flask, url_for
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, exc, select


def _rules_app(with_defaults: bool) -> Flask:
    app = Flask("harness")
    view = lambda **kw: "ok"  # noqa: E731
    if with_defaults:
        app.add_url_rule("/harness-list/", "listing", view, defaults={"page": 1}, methods=["GET"])
    app.add_url_rule("/harness-list/", "create", view, methods=["POST"])
    return app


def test_a_rule_parsed_before_takes_none_of_the_first_rule_s_defaults() -> None:
    _rules_app(with_defaults=True)  # the worker parses /harness-list/ with defaults first
    app = _rules_app(with_defaults=False)
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "create")
    assert rule.arguments == set()
    with app.test_request_context():
        assert url_for("create") == "/harness-list/"


def test_an_engine_that_lints_gets_no_statement_compiled_by_one_that_does_not() -> None:
    metadata = MetaData()
    a = Table("a", metadata, Column("id", Integer, primary_key=True))
    b = Table("b", metadata, Column("id", Integer, primary_key=True))
    quiet = create_engine("sqlite://", enable_from_linting=False)
    linting = create_engine("sqlite://")
    metadata.create_all(quiet)
    metadata.create_all(linting)
    cartesian = select(a.c.id, b.c.id)
    with quiet.connect() as conn:
        conn.execute(cartesian).all()
    with linting.connect() as conn, pytest.warns(exc.SAWarning, match="cartesian product"):
        conn.execute(cartesian).all()
    quiet.dispose()
    linting.dispose()
