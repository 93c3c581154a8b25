"""The export formats, declared once: the CLI, the API and the export page read this. Pure.

Each format names what the download is (content type, file extension, the label a person
picks it by), the writer that makes it and what it is made from (``needs``). Case exports
offer the table formats only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exports.options import ExportOptionError
from exports.writers.base import TableWriter, Writer
from exports.writers.csv import CsvZipWriter
from exports.writers.geojson import GeoJsonWriter
from exports.writers.media import MediaZipWriter
from exports.writers.xlsx import XlsxWriter


def N_(message: str) -> str:
    """Marks a label for the translation catalogue; the page translates it when shown."""
    return message


class Needs(StrEnum):
    """What a format is made from."""

    TABLES = "tables"  # linked tables of answers (submissions, repeats) or of cases
    ATTACHMENTS = "attachments"  # the files sent with the submissions
    POINTS = "points"  # the geopoint answers, one feature each


@dataclass(frozen=True)
class ExportFormat:
    name: str  # what the CLI, the API and the page's form field say: ``csv``
    label: str  # in English; the page shows it translated
    content_type: str
    extension: str  # of the downloaded file, without the dot
    writer: type[Writer]
    needs: Needs

    @property
    def for_cases(self) -> bool:
        """Case exports are linked tables, written by a table writer."""
        return self.needs is Needs.TABLES and issubclass(self.writer, TableWriter)


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "csv", N_("CSV files (ZIP)"), "application/zip", "csv.zip", CsvZipWriter, Needs.TABLES
        ),
        ExportFormat(
            "xlsx",
            N_("Excel workbook (XLSX)"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
            XlsxWriter,
            Needs.TABLES,
        ),
        ExportFormat(
            "media",
            N_("Photos and files (ZIP)"),
            "application/zip",
            "media.zip",
            MediaZipWriter,
            Needs.ATTACHMENTS,
        ),
        ExportFormat(
            "geojson",
            N_("Map points (GeoJSON)"),
            "application/geo+json",
            "geojson",
            GeoJsonWriter,
            Needs.POINTS,
        ),
    )
}
FORM_FORMATS = tuple(FORMATS)
CASE_FORMATS = tuple(name for name, f in FORMATS.items() if f.for_cases)


def form_format(name: str) -> ExportFormat:
    """The format of a form export; ExportOptionError for a name that is not one."""
    if name not in FORM_FORMATS:
        raise ExportOptionError(f"unknown export format {name!r}; use one of {FORM_FORMATS}")
    return FORMATS[name]


def case_format(name: str) -> ExportFormat:
    """The format of a case export; ExportOptionError for a name that is not one."""
    if name not in CASE_FORMATS:
        raise ExportOptionError(f"unknown case export format {name!r}; use one of {CASE_FORMATS}")
    return FORMATS[name]
