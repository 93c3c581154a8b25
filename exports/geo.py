"""Geopoint answers as GeoJSON features (the GeoJSON export): every geopoint field of a
form, answers in repeats included. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from exports.options import ExportOptions
from exports.tables import DataNode, SubmissionRecord, iso_utc, merge_fields, path_segments


def geopoints(
    definitions: Sequence[Any], options: ExportOptions
) -> list[tuple[str, tuple[str, ...]]]:
    """``(path, segments)`` of every exportable geopoint field, in form order."""
    return [
        (f.path, path_segments(f.path))
        for f in merge_fields(definitions, options.language)
        if f.kind == "field"
        and f.type == "geopoint"
        and (options.include_sensitive or not f.is_sensitive)
    ]


def values_at(node: DataNode, segments: tuple[str, ...]) -> list[str]:
    """Every leaf value at a path, across repeat instances, in document order."""
    head, rest = segments[0], segments[1:]
    out: list[str] = []
    for value in node.get(head, []):
        if rest:
            if isinstance(value, dict):
                out.extend(values_at(value, rest))
        elif isinstance(value, str):
            out.append(value)
    return out


def parse_geopoint(value: str) -> list[float] | None:
    """``"lat lon alt acc"`` → ``[lon, lat, alt]`` (GeoJSON order), or None if not a point."""
    parts = value.split()
    if len(parts) < 2:
        return None
    try:
        numbers = [float(p) for p in parts[:3]]
    except ValueError:
        return None
    lat, lon = numbers[0], numbers[1]
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return [lon, lat, *numbers[2:3]]


def geo_features(
    definitions: Sequence[Any], options: ExportOptions, submissions: Iterable[SubmissionRecord]
) -> Iterator[tuple[list[float], dict[str, Any]]]:
    """One ``(coordinates, properties)`` per geopoint answer, repeats included.

    Properties: ``instanceID``, ``field`` (the path), ``index`` (1-based among that field's
    answers in the submission, >1 only inside repeats) and ``SubmissionDate``. Blank or
    malformed answers are skipped.
    """
    points = geopoints(definitions, options)
    for record in submissions:
        for path, segments in points:
            for n, value in enumerate(values_at(record.data, segments), start=1):
                coordinates = parse_geopoint(value)
                if coordinates is None:
                    continue
                yield (
                    coordinates,
                    {
                        "instanceID": record.instance_id,
                        "field": path,
                        "index": n,
                        "SubmissionDate": iso_utc(record.received_at),
                    },
                )
