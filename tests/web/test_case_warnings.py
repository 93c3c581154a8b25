"""The case page says when a plan names no protection need of the child."""

from __future__ import annotations

from typing import Any

from tests.factories import DeviceClient
from tests.realforms import new_case_plan


def test_the_case_page_says_the_plan_names_no_need(
    published: None, device: DeviceClient, web_as: Any
) -> None:
    assert device.submit(new_case_plan("CP-N-2", with_need=False)[0]).status_code == 201
    assert device.submit(new_case_plan("CP-N-3")[0]).status_code == 201
    sup = web_as("sup", "supervisor", team="north")
    assert 'id="case-no-need"' in sup.text("/cases/CP-N-2")
    assert 'id="case-no-need"' not in sup.text("/cases/CP-N-3")
