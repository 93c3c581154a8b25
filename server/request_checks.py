"""Checks every request passes before its view, whichever edge it is for: no NUL character
(nor unusable JSON) in what a client sends, and the CSRF token on a state-changing request
signed in by the session cookie. ``create_app`` installs them for the whole app."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFProtect

from server.auth import is_bearer
from server.errors import AppError

csrf = CSRFProtect()

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _check_csrf() -> None:
    """CSRF on every state-changing browser request.

    Devices (the OpenRosa blueprint) authenticate with a key in the path or Digest, never a
    cookie, so a forged cross-site request carries nothing they would accept. Requests with
    a bearer token are exempt too: a browser cannot attach an Authorization header to a
    cross-site form post, and such a request is never signed in by its cookie (see
    server.auth). Anything riding on the session cookie must carry the token. A request
    that no route takes is left to be answered 404 or 405 by its own edge.
    """
    if not current_app.config.get("WTF_CSRF_ENABLED", True) or request.method in SAFE_METHODS:
        return
    if request.routing_exception is not None or request.blueprint == "openrosa":
        return
    if request.path.startswith("/api/") and is_bearer(request):
        return
    csrf.protect()


NUL = "\x00"
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
MAX_JSON_DEPTH = 64
# A lone UTF-16 surrogate: JSON may spell one ("\ud800"), but it is not a character and no
# database, log or page can encode it, so the request would end as a 500.
SURROGATE = re.compile("[\ud800-\udfff]")


def _json_problem(body: Any) -> str | None:
    """What makes a JSON body unusable: a NUL or a lone surrogate in some text, or
    nesting beyond reason."""
    stack = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                return "The request contains a NUL character."
            if SURROGATE.search(value):
                return (
                    "The JSON body holds a lone surrogate escape (such as \\ud800), "
                    "which is not a character. Send the text as valid Unicode."
                )
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return "The JSON body is nested too deeply."
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                stack.append((key, depth))
                stack.append((item, depth + 1))
    return None


def _check_text() -> None:
    """No text a client sends may hold a NUL character: it is never part of a name, a
    reference or a note, and PostgreSQL cannot store it (the query would fail as a 500).
    The address, the query string, form fields and JSON bodies are checked. Device
    requests are not: the OpenRosa views make such text find nothing or store it cleaned,
    because refusing a submission over its ``deviceID`` would lose it."""
    if request.blueprint == "openrosa":
        return
    fields = [request.path, *(t for pair in request.args.items(multi=True) for t in pair)]
    if request.mimetype in FORM_TYPES:
        fields += [t for pair in request.form.items(multi=True) for t in pair]
    problem = "The request contains a NUL character." if any(NUL in t for t in fields) else None
    if problem is None and request.is_json:
        try:
            problem = _json_problem(request.get_json(silent=True))
        except RecursionError:
            problem = "The JSON body is nested too deeply."
    if problem is not None:
        raise AppError("request.invalid", problem)


def init_app(app: Flask) -> None:
    # CSRFProtect's own hook would also check device posts; ours decides (see _check_csrf).
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.before_request(_check_text)
    app.before_request(_check_csrf)
