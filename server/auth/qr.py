"""Collect's provisioning QR code: base64(zlib(JSON settings)), per the protocol notes §8."""

from __future__ import annotations

import base64
import io
import json
import zlib
from typing import Any

import qrcode
import qrcode.image.pure
import qrcode.image.svg


def collect_settings(server_url: str, project_name: str, username: str) -> dict[str, Any]:
    return {
        "general": {
            "server_url": server_url,
            "username": "",
            "password": "",
            "form_update_mode": "match_exactly",
            "autosend": "wifi_and_cellular",
            "metadata_username": username,
        },
        "admin": {},
        "project": {"name": project_name, "icon": "C", "color": "#1f6f8b"},
    }


def make_qr_payload(settings: dict[str, Any]) -> str:
    return base64.b64encode(zlib.compress(json.dumps(settings).encode("utf-8"))).decode("ascii")


def read_qr_payload(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(text)).decode("utf-8"))
    return value


def qr_png(payload: str) -> bytes:
    image = qrcode.make(payload, image_factory=qrcode.image.pure.PyPNGImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_svg(payload: str) -> str:
    image = qrcode.make(payload, image_factory=qrcode.image.svg.SvgPathImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode("utf-8")
