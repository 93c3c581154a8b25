"""One registry of export formats, read by the command line, the API and the export page."""

from __future__ import annotations

import click

from exports.formats import CASE_FORMATS, FORM_FORMATS, FORMATS, Needs
from exports.writers.base import TableWriter, Writer
from server.cli import main
from server.downloads.schemas import CaseExportArgs, FormExportArgs


def test_every_format_has_a_writer_of_the_base_class() -> None:
    assert FORM_FORMATS == ("csv", "xlsx", "media", "geojson")
    assert CASE_FORMATS == ("csv", "xlsx")
    for spec in FORMATS.values():
        assert issubclass(spec.writer, Writer)
        assert issubclass(spec.writer, TableWriter) == (spec.needs is Needs.TABLES)
        assert spec.label
        assert "/" in spec.content_type
        assert not spec.extension.startswith(".")


def _choices(command: str) -> tuple[str, ...]:
    cmd = main.commands[command]
    option = next(p for p in cmd.params if p.name == "fmt")
    assert isinstance(option.type, click.Choice)
    return tuple(option.type.choices)


def test_the_command_line_offers_the_registry_s_formats() -> None:
    assert _choices("export") == FORM_FORMATS
    assert _choices("export-cases") == CASE_FORMATS


def test_the_api_accepts_the_registry_s_formats() -> None:
    for name in FORM_FORMATS:
        assert FormExportArgs().load({"format": name})["format"] == name
    for name in CASE_FORMATS:
        assert CaseExportArgs().load({"format": name})["format"] == name
    assert FormExportArgs().validate({"format": "pdf"})
    assert CaseExportArgs().validate({"format": "media"})
