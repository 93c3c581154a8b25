"""Configuration: defaults, then CASEWORK_* environment variables, then explicit overrides.

This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from server.cases.referrals import parse_due_setting
from server.timeutil import known_zone

# What devices are told they may send in one POST (X-OpenRosa-Accept-Content-Length).
# Collect splits larger submissions into several POSTs of at most this size.
DEFAULT_MAX_SUBMISSION_BYTES = 100_000_000
# What multipart framing may add to that payload in one POST.
SUBMISSION_FRAMING_BYTES = 1_000_000


class ConfigError(ValueError):
    """A setting the server cannot start with; the message says which and why."""


class Defaults:
    DATA_DIR = "data"
    DATABASE_URL = ""  # empty: a SQLite file in DATA_DIR
    # empty: http://HOST:PORT, the address `casework serve` listens on (`make run` passes
    # CASEWORK_HOST and CASEWORK_PORT to it as --host and --port)
    BASE_URL = ""
    HOST = "127.0.0.1"
    PORT = 8080
    SECRET_KEY = ""  # empty: generated once and kept in DATA_DIR
    MAX_SUBMISSION_BYTES = DEFAULT_MAX_SUBMISSION_BYTES
    # multipart framing adds a little to the advertised payload; Werkzeug refuses beyond this
    MAX_CONTENT_LENGTH = DEFAULT_MAX_SUBMISSION_BYTES + SUBMISSION_FRAMING_BYTES
    MAX_FORM_UPLOAD_BYTES = 20_000_000
    AUTH_REALM = "casework"
    ODK_VALIDATE = True  # run JavaRosa's validator at publish when java is present
    # Failed sign-ins lock for LOGIN_LOCKOUT_SECONDS: one account from one address after
    # LOGIN_MAX_FAILURES, one address (any accounts) after LOGIN_ADDRESS_MAX_FAILURES, one
    # account from every address after LOGIN_ACCOUNT_MAX_FAILURES; counted within that time.
    LOGIN_MAX_FAILURES = 5
    LOGIN_ADDRESS_MAX_FAILURES = 20
    LOGIN_ACCOUNT_MAX_FAILURES = 100
    LOGIN_LOCKOUT_SECONDS = 900
    TRUST_PROXY = False  # honour X-Forwarded-Proto/Host from one reverse proxy
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None
    BABEL_DEFAULT_LOCALE = "en"
    # the organisation's time zone (an IANA name) for the times pages show; a user may
    # choose their own on the account page
    TIMEZONE = "UTC"
    CONTACT_FREQUENCY_DEFAULT_DAYS = 14
    REVIEW_INTERVAL_DAYS = 90
    # an event time this far past the time the server received it is the received time
    FUTURE_EVENT_TOLERANCE_HOURS = 24
    # the largest submission the merge takes (server.cases.limits); a larger one is stored
    # and its merge recorded as failed, for a supervisor to see
    MAX_ANSWER_BYTES = 64 * 1024  # one answer, UTF-8
    MAX_REPEAT_INSTANCES = 1000  # all repeat instances of one submission
    # a report cell counting fewer cases than this is hidden ("<5"), with whatever else
    # would let it be worked out from the totals (server.reports.suppression)
    REPORT_MIN_CELL = 5
    # what waits for a supervisor's approval (server.cases.approvals): a closure sent from
    # a phone, and a case plan that leaves the case at high risk
    APPROVE_CLOSURE = True
    APPROVE_HIGH_RISK_PLAN = True
    # days from a referral's state to its next, by urgency, as JSON laid over the defaults
    # (server.cases.referrals): '{"immediate": {"acknowledged": 2}}'
    REFERRAL_DUE = ""
    TESTING = False


def load_config(app: Flask, overrides: dict[str, Any] | None = None) -> None:
    """Fill ``app.config`` and make sure the data folder and secret key exist."""
    app.config.from_object(Defaults)
    app.config.from_prefixed_env("CASEWORK")
    if overrides:
        app.config.update(overrides)

    data_dir = Path(app.config["DATA_DIR"]).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    app.config["DATA_DIR"] = str(data_dir)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{data_dir / 'casework.sqlite3'}"
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _kept_secret(data_dir / "secret_key")
    # Whether the base URL follows the address served (`casework serve` sets it then).
    app.config["BASE_URL_FROM_ADDRESS"] = not app.config["BASE_URL"]
    if not app.config["BASE_URL"]:
        app.config["BASE_URL"] = served_base_url(str(app.config["HOST"]), int(app.config["PORT"]))
    app.config["BASE_URL"] = str(app.config["BASE_URL"]).rstrip("/")
    app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")
    # the largest submission POST accepted (the payload devices are told, and its framing)
    app.config["MAX_SUBMISSION_BODY_BYTES"] = (
        int(app.config["MAX_SUBMISSION_BYTES"]) + SUBMISSION_FRAMING_BYTES
    )
    app.config["MAX_CONTENT_LENGTH"] = max(
        int(app.config["MAX_CONTENT_LENGTH"]), app.config["MAX_SUBMISSION_BODY_BYTES"]
    )
    zone = str(app.config["TIMEZONE"] or "UTC").strip()
    if not known_zone(zone):
        raise ConfigError(
            f"CASEWORK_TIMEZONE={zone!r} is not a time zone this server knows. "
            "Give an IANA name such as 'Africa/Nairobi', 'Europe/Paris' or 'UTC'."
        )
    app.config["TIMEZONE"] = zone
    try:
        parse_due_setting(app.config["REFERRAL_DUE"])
    except ValueError as exc:
        raise ConfigError(
            f"CASEWORK_REFERRAL_DUE is not what it should be ({exc}): a JSON object such as "
            '\'{"immediate": {"acknowledged": 2}}\', days from a referral\'s state to the next '
            "by urgency."
        ) from None
    min_cell = app.config["REPORT_MIN_CELL"]
    if isinstance(min_cell, bool) or not isinstance(min_cell, int) or not 1 <= min_cell <= 1000:
        raise ConfigError(
            f"CASEWORK_REPORT_MIN_CELL={min_cell!r} is not a whole number from 1 to 1000: "
            "the smallest count a report shows (5 unless set)."
        )


def served_base_url(host: str, port: int) -> str:
    """The base URL of a server listening on ``host``:``port``. A wildcard address (all
    interfaces) is reached from this machine as 127.0.0.1; phones on the network need
    CASEWORK_BASE_URL with the machine's own address."""
    host = host.strip() or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):  # noqa: S104 (compared, not bound)
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"


def _kept_secret(path: Path) -> str:
    """A secret generated on first run and reused afterwards, readable only by its owner."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def env_database_url() -> str | None:
    """The database URL named by the environment, for tools that run without an app."""
    return os.environ.get("CASEWORK_DATABASE_URL")
