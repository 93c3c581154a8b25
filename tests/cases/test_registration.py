"""Registration data for reports, from a case's merged fields: the age band is the
server's, disability follows the Washington Group short set, nothing unreadable fails."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest

from server.cases.registration import (
    WG_DOMAINS,
    CaseRow,
    ItemRow,
    age_band,
    disability,
    item_category,
    registration,
    report_keys,
)


@pytest.mark.parametrize(
    ("years", "band"),
    [(0, "0-4"), (4, "0-4"), (5, "5-9"), (9, "5-9"), (10, "10-14"), (14, "10-14"),
     (15, "15-17"), (17, "15-17"), (18, "18+")],
)  # fmt: skip
def test_the_band_of_an_age(years: int, band: str) -> None:
    assert age_band(years) == band


def test_the_age_in_years_decides_the_band_over_an_estimate() -> None:
    found = registration({"age_years": "12", "age_band": "0-4"})
    assert (found.age_years, found.age_band) == (12, "10-14")
    assert registration({"age_band": "5-9"}).age_band == "5-9"
    assert registration({"age_band": "5 to 9"}).age_band is None  # not a band code


@pytest.mark.parametrize("given", ["", "twelve", "-1", "121", "1e9", "3.5", None, True, [3]])
def test_an_age_that_is_not_one_is_not_recorded(given: object) -> None:
    assert registration({"age_years": given}).age_years is None


def test_disability_by_the_washington_group_cut_off() -> None:
    none = dict.fromkeys(WG_DOMAINS, "none")
    assert disability(none) == "no"
    assert disability({**none, "wg_hearing": "some"}) == "no"
    assert disability({**none, "wg_hearing": "a_lot"}) == "yes"
    assert disability({**none, "wg_selfcare": "cannot"}) == "yes"
    # a severe answer is enough; otherwise all six must be answered
    assert disability({"wg_walking": "cannot"}) == "yes"
    assert disability({"wg_walking": "some"}) is None
    assert disability({**none, "wg_seeing": "unknown"}) is None


def test_codes_are_kept_as_given_and_bounded() -> None:
    found = registration(
        {"sex": " female ", "admin1": "R01", "admin2": "R01D01", "intake_concern": "x" * 65}
    )
    assert (found.sex, found.admin1, found.admin2, found.intake_concern) == (
        "female",
        "R01",
        "R01D01",
        None,
    )


def test_item_categories() -> None:
    assert item_category("need", "neglect", {"need_category": "neglect"}) == "neglect"
    assert item_category("need", "other-begging", {}) == "other"
    assert item_category("service", "health", {}) == "health"
    assert item_category("service", "contact:referral-x-1", {"service_category": "health"}) == (
        "health"
    )
    assert item_category("service", "contact:referral-x-1", {}) == ""


def test_the_cells_one_case_adds_to() -> None:
    case = CaseRow(7, datetime(2026, 11, 30, 23, 0, tzinfo=UTC), "5-9", "female", "yes",
                   "R01", "R01D01", "neglect", "high")  # fmt: skip
    items = [
        ItemRow("need", "neglect", "planned", {"need_category": "neglect"}),
        ItemRow("need", "other-a", "planned", {}),
        ItemRow("need", "other-b", "done", {}),  # the same category: the case counts once
        ItemRow("need", "separation", "cancelled", {}),  # no longer needed: not counted
        ItemRow("service", "health", "referred", {"service_category": "health"}),
        ItemRow("service", "contact:referral-c-1", "delivered", {"service_category": "health"}),
    ]
    month = date(2026, 11, 1)
    assert report_keys(case, items) == Counter(
        {
            (7, month, "age_band", "5-9"): 1,
            (7, month, "sex", "female"): 1,
            (7, month, "disability", "yes"): 1,
            (7, month, "region", "R01"): 1,
            (7, month, "area", "R01D01"): 1,
            (7, month, "concern", "neglect"): 1,
            (7, month, "risk", "high"): 1,
            (7, month, "need", "neglect"): 1,
            (7, month, "need", "other"): 1,
            (7, month, "service", "health"): 1,
            (7, month, "referral", "referred"): 1,
            (7, month, "referral", "delivered"): 1,
        }
    )
    unassigned = CaseRow(None, case.opened_at, None, None, None, None, None, None, None)
    assert report_keys(unassigned, [])[(0, month, "sex", "")] == 1  # not recorded
