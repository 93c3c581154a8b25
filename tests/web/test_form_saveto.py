"""The Forms page refuses a sensitive question with a ``save_to``, by sheet and row, and
says to use ``casework:saveto``."""

from __future__ import annotations

import io
from typing import Any

from tests.xforms.test_sensitive_saveto import DISCUSSION, with_cells


def test_the_forms_page_refuses_a_sensitive_question_with_save_to(web_as: Any) -> None:
    designer = web_as("des", "designer")
    content, rows = with_cells("case_conference", DISCUSSION)
    response = designer.post(
        "/forms/preview",
        {"file": (io.BytesIO(content), "c.xlsx")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'class="problems"' in html
    assert "discussion" in html
    assert "casework:saveto" in html
    assert f"<td>{rows['discussion']}</td>" in html or f">{rows['discussion']}<" in html
    assert "case_conference" not in designer.text("/forms")
