"""The Forms page refuses a form with a question called ``…name``, by sheet and row."""

from __future__ import annotations

import io
from typing import Any

from tests.xforms.test_no_names import with_question


def test_the_forms_page_refuses_a_question_called_child_name(web_as: Any) -> None:
    designer = web_as("des", "designer")
    response = designer.post(
        "/forms/preview",
        {"file": (io.BytesIO(with_question("case_conference", "child_name")), "c.xlsx")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'class="problems"' in html
    assert "child_name" in html
    assert "<td>6</td>" in html or ">6<" in html  # the row
    assert "case_conference" not in designer.text("/forms")
