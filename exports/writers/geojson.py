"""GeoJSON: a FeatureCollection of point answers, written feature by feature. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from exports.writers.base import Writer


class GeoJsonWriter(Writer):
    """Context manager streaming one FeatureCollection to a binary file (UTF-8).

    Coordinates are ``[lon, lat]`` or ``[lon, lat, alt]`` as RFC 7946 orders them.
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.count = 0
        self._fh.write(b'{"type": "FeatureCollection", "features": [\n')

    def close(self) -> None:
        self._fh.write(b"\n]}\n")
        self._fh.flush()

    def write_feature(self, coordinates: list[float], properties: Mapping[str, Any]) -> None:
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": coordinates},
            "properties": dict(properties),
        }
        if self.count:
            self._fh.write(b",\n")
        self._fh.write(json.dumps(feature, ensure_ascii=False).encode("utf-8"))
        self.count += 1
