"""The hand-written CSV fast path and ZIP writer, each against the standard library.

- ``CsvZipWriter`` (``CsvFormatter``'s joined-rows fast path, the per-row fix-ups and the
  Neutraliser) writes what ``csv.writer`` writes for the cells made safe, and ``csv.reader``
  reads back every cell;
- ``ZipStream`` (entries compressed concurrently, ZIP64 fields added by hand) makes archives
  that ``zipfile`` reads back whole, with and without ZIP64 fields (forced by lowering the
  limit, as real 4 GiB entries are too slow for a test).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from exports.cells import Cell, safe_cell
from exports.tables import Column, TableSpec
from exports.writers import zipstream
from exports.writers.csv import CsvZipWriter
from exports.writers.zipstream import ZipStream

# Cells as exports meet them: mostly plain words (the fast path), now and then text with
# what CSV must quote or a spreadsheet would evaluate, any Unicode, numbers and blanks.
RISKY = ",\"\r\n'=+-@\t ;."
plain = st.text(alphabet="abcxyz019 é", max_size=8)
risky = st.text(alphabet=st.sampled_from([*RISKY, "a", "1", "ü", "字", "\x00"]), max_size=6)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
numbers = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["-2", "-1.5 36.8 0 0", "-1e5", "=1+1", "-x", "+3"]),
)
cells = st.one_of(plain, plain, plain, risky, any_text, st.none(), numbers)


def _expected(table: TableSpec, rows: Sequence[Sequence[Cell]]) -> str:
    numeric = [c.is_numeric for c in table.columns]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(h) for h in table.headers])
    writer.writerows([[safe_cell(v, n) for v, n in zip(r, numeric, strict=True)] for r in rows])
    return out.getvalue()


@st.composite
def tables(draw: st.DrawFn, name: str) -> tuple[TableSpec, list[list[Cell]]]:
    width = draw(st.integers(1, 5))
    columns = tuple(
        Column(
            draw(st.one_of(plain, risky)),
            "field",
            f"c{i}",
            draw(st.sampled_from(["text", "int", "geopoint"])),
        )
        for i in range(width)
    )
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), max_size=40))
    if draw(st.booleans()):  # text only: what the joined-rows fast path takes
        rows = [["" if v is None else str(v) for v in r] for r in rows]
    return TableSpec(name, columns), rows


def _read_back(fh: io.BytesIO) -> dict[str, str]:
    with zipfile.ZipFile(fh) as zf:
        assert zf.testzip() is None
        return {n: zf.read(n).decode("utf-8") for n in zf.namelist()}


@settings(max_examples=200, deadline=None)
@given(first=tables("a"), second=tables("b"), one_pass=st.booleans(), batch=st.integers(1, 50))
def test_csv_zip_writes_what_csv_writer_writes(
    first: tuple[TableSpec, list[list[Cell]]],
    second: tuple[TableSpec, list[list[Cell]]],
    one_pass: bool,
    batch: int,
) -> None:
    fh = io.BytesIO()
    with mock.patch("exports.writers.csv.BATCH_ROWS", batch), CsvZipWriter(fh) as writer:
        if one_pass:
            tagged = [(0, r) for r in first[1]] + [(1, r) for r in second[1]]
            counts = writer.write_tables([first[0], second[0]], tagged)
        else:
            counts = {
                "a": writer.write_table(first[0], [tuple(r) for r in first[1]]),
                "b": writer.write_table(second[0], [tuple(r) for r in second[1]]),
            }
    assert counts == {"a": len(first[1]), "b": len(second[1])}
    files = _read_back(fh)
    assert list(files) == ["a.csv", "b.csv"]
    for (table, rows), text in zip((first, second), files.values(), strict=True):
        assert text.startswith("\ufeff")
        expected = _expected(table, rows)
        assert text[1:] == expected
        # and what the csv module reads back is every cell as text
        assert list(csv.reader(io.StringIO(text[1:], newline=""))) == list(
            csv.reader(io.StringIO(expected, newline=""))
        )


entry_names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)
chunks = st.one_of(st.binary(max_size=300), st.sampled_from([b"a" * 5000, bytes(range(256)) * 8]))


@settings(max_examples=120, deadline=None)
@given(
    names=st.lists(entry_names, min_size=0, max_size=5, unique=True),
    writes=st.lists(st.tuples(st.integers(0, 4), chunks), max_size=15),
    limit=st.one_of(st.none(), st.integers(0, 12_000)),
)
def test_zip_stream_reads_back_with_zipfile(
    names: list[str], writes: list[tuple[int, bytes]], limit: int | None
) -> None:
    contents = dict.fromkeys(names, b"")
    fh = io.BytesIO()
    with (
        mock.patch.object(
            zipstream, "ZIP64_LIMIT", limit if limit is not None else zipstream.ZIP64_LIMIT
        ),
        ZipStream(fh) as archive,
    ):
        entries = [archive.entry(name) for name in names]
        for index, data in writes:
            if entries:
                entry = entries[index % len(entries)]
                archive.write(entry, data)
                contents[entry.name] += data
    if limit == 0:  # every size and offset in ZIP64 fields, and the ZIP64 end records
        assert b"PK\x06\x06" in fh.getvalue()
        assert b"PK\x06\x07" in fh.getvalue()
    with zipfile.ZipFile(io.BytesIO(fh.getvalue())) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == names
        for info in zf.infolist():
            assert zf.read(info) == contents[info.filename]
            assert info.file_size == len(contents[info.filename])
            assert info.compress_type == zipfile.ZIP_DEFLATED
