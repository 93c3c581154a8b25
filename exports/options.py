"""Export options: what a person chose when asking for an export. Pure.

The same options object drives every format, and :meth:`ExportOptions.describe` is what the
callers write into the audit record, so an auditor can tell exactly what left the server.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any


class ExportOptionError(ValueError):
    """An export option is not valid. Callers translate it (e.g. to ``export.bad_option``)."""


@dataclass(frozen=True)
class ExportOptions:
    """How to shape an export.

    - ``labels``: headers and choice answers use labels in ``language`` instead of the XML
      names and values (values are the default, as in ODK Central).
    - ``language``: which label language, as the form names it (``French (fr)``) or by its
      code (``fr``); ``None`` takes the form's default language (``default_language``).
    - ``group_paths``: headers carry the group path (``household-head-age``) or only the field
      name (``age``; a name used twice falls back to its path).
    - ``split_select_multiple``: after a select-multiple column, add one ``0``/``1`` column per
      choice (``field/choice``). The combined column is kept so answers outside the choice
      list are never lost.
    - ``include_sensitive``: fields marked ``casework:sensitive``, every field inside a group
      or repeat so marked, the files that answer them (media) and the case properties fed
      by them are left out unless this is true (``exports.tables.sensitive_paths``).
    - ``received_from`` / ``received_before``: half-open range on the submission's
      ``received_at``; "since the last export" is the caller passing its last run time here.
    - ``submitter_ids``: only submissions sent by these users (a supervisor's team); ``None``
      means everyone's. Form exports only (case exports are scoped by the caller's user).
    - ``as_of``: the day overdue flags of case exports are computed for (default: today, UTC).
    """

    labels: bool = False
    language: str | None = None
    group_paths: bool = True
    split_select_multiple: bool = False
    include_sensitive: bool = False
    received_from: datetime | None = None
    received_before: datetime | None = None
    as_of: date | None = None
    submitter_ids: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if self.submitter_ids is not None and (
            not isinstance(self.submitter_ids, frozenset)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in self.submitter_ids)
        ):
            raise ExportOptionError("submitter_ids must be a frozenset of user ids")
        for name in ("received_from", "received_before"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ExportOptionError(f"{name} must be timezone-aware")
        if (
            self.received_from is not None
            and self.received_before is not None
            and self.received_from >= self.received_before
        ):
            raise ExportOptionError("received_from must be before received_before")
        if self.language is not None and not self.language.strip():
            raise ExportOptionError("language must not be blank")

    def describe(self) -> dict[str, Any]:
        """The options as plain JSON values, for the audit record."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, date | datetime):
                value = value.isoformat()
            elif isinstance(value, frozenset):
                value = sorted(value)
            out[f.name] = value
        return out
