"""Page handlers, one module per area; importing them registers the routes on ``bp``."""

from server.web.views import (
    account,
    audit,
    cases,
    dashboard,
    exports,
    forms,
    items,
    referrals,
    reports,
    services,
    site,
    transfers,
    users,
)

__all__ = [
    "account",
    "audit",
    "cases",
    "dashboard",
    "exports",
    "forms",
    "items",
    "referrals",
    "reports",
    "services",
    "site",
    "transfers",
    "users",
]
