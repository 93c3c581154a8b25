"""Casework: child-protection case management over ODK Collect."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from server import config, db


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the application. The only place where the parts are wired together.

    The parts are imported here, not at the top of the module: ``exports/``, the migrations
    and the CLI import ``server.*`` modules without wanting the whole web application loaded.
    """
    app = Flask(__name__, instance_relative_config=False)
    config.load_config(app, overrides)
    logging.basicConfig(level=logging.INFO if not app.testing else logging.WARNING)
    if app.config["TRUST_PROXY"]:
        # One reverse proxy in front: trust its X-Forwarded-Proto/Host (Basic needs HTTPS).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    import server.cases.list_cache
    import server.cases.report_counts
    import server.models  # noqa: F401  (every table known to the metadata)

    db.init_app(app)

    from server import auth

    auth.init_app(app)

    # Every request, whichever edge: no NUL in what is sent, CSRF on cookie-signed writes.
    from server import request_checks

    request_checks.init_app(app)

    from server.openrosa.bp import bp as openrosa_bp

    app.register_blueprint(openrosa_bp)

    from server.api import bp as api_bp

    app.register_blueprint(api_bp)

    from server.web import init_app as init_web

    init_web(app)

    # Who is asking picks how an error is written: a page, JSON or OpenRosa XML.
    from server import edges
    from server.api import errors as api_errors
    from server.openrosa import errors as openrosa_errors
    from server.web import errors as web_errors

    edges.init_app(
        app,
        {
            edges.WEB: web_errors.WRITER,
            edges.API: api_errors.WRITER,
            edges.OPENROSA: openrosa_errors.WRITER,
        },
    )

    from server import cli, security

    security.init_app(app)
    cli.init_app(app)
    return app
