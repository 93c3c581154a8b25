"""Headers that keep a browser from being turned against the people who use this server.

Set once, on every response, by an app-wide hook. Our pages get a Content-Security-Policy
that allows only this server's own files (no inline script or style: the templates use
none) and no framing. Anything else we answer with (JSON, CSV, the XML a phone sent, an
XForm a designer wrote, an uploaded file) is data, not a page: it gets a policy that
sandboxes it, so that markup hidden in it (an XHTML ``<script>`` in XML, an SVG) cannot
run script on this origin with the viewer's session cookie. nosniff keeps a browser from
guessing a type other than the one we declare.
"""

from __future__ import annotations

from flask import Flask, Response, request

PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# A sandboxed document runs no script, submits no form and has an opaque origin.
DOCUMENT_POLICY = "sandbox; default-src 'none'; frame-ancestors 'none'"

PAGE_TYPES = frozenset({"text/html"})
DATA_BLUEPRINTS = frozenset({"api", "openrosa"})  # they answer with data, never a page


def add_security_headers(response: Response) -> Response:
    """A view may set a stricter policy of its own; the rest is the same everywhere."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if "Content-Security-Policy" not in headers:
        page = response.mimetype in PAGE_TYPES and request.blueprint not in DATA_BLUEPRINTS
        headers["Content-Security-Policy"] = PAGE_POLICY if page else DOCUMENT_POLICY
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
