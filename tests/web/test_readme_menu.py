"""The README's way to register a device is the way the menu and the page name it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_way_to_register_a_device_matches_the_menu(web_as: Any) -> None:
    readme = (ROOT / "README.md").read_text()
    step = re.search(r"signed in as an admin, (.*?)which shows the QR", readme, re.S)
    assert step is not None
    words = " ".join(step.group(1).split())
    page = web_as("adm", "admin").text("/devices")
    links = re.findall(r'<li><a href="[^"]+">([^<]+)</a></li>', page)
    for menu in re.findall(r"\*\*([^*]+)\*\*", words):
        first, *rest = [part.strip() for part in menu.split("→")]
        assert first in links, (menu, links)
        for heading in rest:  # a part of the page the menu entry opens
            assert f">{heading}</h2>" in page, heading
    button = re.search(r"\(\*(.+?)\*\)", words)
    assert button is not None
    assert f">{button.group(1)}</button>" in page
