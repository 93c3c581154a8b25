"""Writers over plain rows: formula neutralisation, sheet splitting, media names."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exports.cells import safe_cell
from exports.tables import Column, TableSpec
from exports.writers import zipstream
from exports.writers.base import write_tables
from exports.writers.csv import CsvFormatter, CsvZipWriter
from exports.writers.media import MediaZipWriter, safe_folder, safe_name
from exports.writers.xlsx import XlsxWriter, split_rows

TABLE = TableSpec("t", (Column("text", "field", "text"), Column("n", "field", "n", "int")))
RISKY = [["=1+1", "-2"], ["+SUM(A1)", "3"], ["@x", ""], ["-2", "x"]]


def test_csv_neutralises_formulas() -> None:
    fh = io.BytesIO()
    with CsvZipWriter(fh) as w:
        w.write_table(TABLE, RISKY)
    with zipfile.ZipFile(fh) as zf:
        got = list(csv.reader(io.StringIO(zf.read("t.csv").decode("utf-8-sig"))))
    assert got == [["text", "n"], ["'=1+1", "-2"], ["'+SUM(A1)", "3"], ["'@x", ""],
                   ["'-2", "x"]]  # fmt: skip


def test_xlsx_neutralises_formulas_and_writes_numbers() -> None:
    fh = io.BytesIO()
    with XlsxWriter(fh) as w:
        w.write_table(TABLE, RISKY)
    sheet = openpyxl.load_workbook(fh)["t"]
    assert [[c.value for c in r] for r in sheet.iter_rows()] == [
        ["text", "n"], ["'=1+1", -2], ["'+SUM(A1)", 3], ["'@x", None], ["'-2", "x"],
    ]  # fmt: skip
    assert all(c.data_type != "f" for r in sheet.iter_rows() for c in r)


def test_split_rows_keeps_order_and_yields_an_empty_first_chunk() -> None:
    chunks = [list(c) for c in split_rows(([i] for i in range(7)), 3)]
    assert chunks == [[[0], [1], [2]], [[3], [4], [5]], [[6]]]
    assert [list(c) for c in split_rows([], 3)] == [[]]
    assert [list(c) for c in split_rows([[1], [2], [3]], 3)] == [[[1], [2], [3]]]


def test_xlsx_continues_long_tables_on_new_sheets_with_headers() -> None:
    long_name = TableSpec("a_very_long_form_id_that_is_too_long-repeat", TABLE.columns)
    fh = io.BytesIO()
    with XlsxWriter(fh, max_rows=2) as w:
        w.write_table(long_name, [[str(i), str(i)] for i in range(5)])
        w.write_table(long_name, [])
    book = openpyxl.load_workbook(fh)
    names = book.sheetnames
    assert all(len(n) <= 31 for n in names)
    assert len(set(names)) == 4
    assert names[1].endswith(" (2)")
    assert names[2].endswith(" (3)")
    values = [[c.value for c in r] for n in names[:3] for r in book[n].iter_rows()]
    assert values == [["text", "n"], ["0", 0], ["1", 1], ["text", "n"], ["2", 2], ["3", 3],
                      ["text", "n"], ["4", 4]]  # fmt: skip


def test_write_tables_spools_all_but_the_first_table() -> None:
    tables = [TableSpec("main", TABLE.columns), TableSpec("sub", TABLE.columns)]
    tagged = [(0, ["a", "1"]), (1, ["b", "2"]), (0, ["c", "3"]), (1, ["d", "4"])]
    fh = io.BytesIO()
    seen: list[int] = []
    with XlsxWriter(fh) as w:
        counts = write_tables(w, tables, tagged, seen.append)
    assert counts == {"main": 2, "sub": 2}
    assert seen == [2]
    assert [c.value for c in openpyxl.load_workbook(fh)["sub"]["A"]] == ["text", "b", "d"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..", "attachment"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("photo\x00.jpg", "photo.jpg"),
        ("ph\noto.jpg", "photo.jpg"),
        ("фото дитини.jpg", "фото дитини.jpg"),
        ("", "attachment"),
        ("a:b?.png", "a_b_.png"),
    ],
)
def test_media_names_are_sanitised(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_media_zip_has_one_folder_per_submission() -> None:
    fh = io.BytesIO()
    with MediaZipWriter(fh) as w:
        w.add("uuid:1", "../../etc/passwd", b"a")
        w.add("uuid:1", "passwd", b"b")
        w.add("uuid:2", "фото.jpg", b"c")
    with zipfile.ZipFile(fh) as zf:
        assert zf.namelist() == ["uuid-1/passwd", "uuid-1/passwd (2)", "uuid-2/фото.jpg"]
        assert zf.read("uuid-2/фото.jpg") == b"c"
    assert safe_folder("uuid:../x") == "x"


def test_zip64_fields_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # every size and offset "needs" ZIP64: the reader must take them from the extra fields
    monkeypatch.setattr(zipstream, "ZIP64_LIMIT", 0)
    fh = io.BytesIO()
    with CsvZipWriter(fh) as w:
        w.write_table(TABLE, [["a", "1"]] * 3000)
        w.write_table(TableSpec("ü", TABLE.columns), [["é", "2"]])
    with zipfile.ZipFile(fh) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["t.csv", "ü.csv"]
        assert zf.read("t.csv").decode("utf-8-sig").splitlines()[:2] == ["text,n", "a,1"]
        assert zf.getinfo("t.csv").file_size == len(zf.read("t.csv"))


def test_zip_without_rows_and_after_an_error() -> None:
    fh = io.BytesIO()
    with CsvZipWriter(fh) as w:
        w.write_table(TABLE, [])
    with zipfile.ZipFile(fh) as zf:
        assert zf.read("t.csv") == b"\xef\xbb\xbftext,n\r\n"
    broken = io.BytesIO()

    def fail_halfway() -> None:
        with CsvZipWriter(broken) as w:
            w.write_table(TABLE, [["a", "1"]])
            raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        fail_halfway()
    assert broken.getvalue() == b""  # no half archive that looks whole


CSV_CELL = st.one_of(st.text(alphabet='ab,"\r\n =-1', max_size=6), st.none(), st.integers(-5, 5))


@settings(max_examples=300, deadline=None)
@given(width=st.integers(1, 4), data=st.data())
def test_csv_formatter_writes_what_csv_writer_writes(width: int, data: st.DataObject) -> None:
    table = TableSpec("t", tuple(Column(f"c{i}", "field", f"c{i}") for i in range(width)))
    rows = data.draw(st.lists(st.lists(CSV_CELL, min_size=width, max_size=width), max_size=6))
    if data.draw(st.booleans()):  # text only: the fast path
        rows = [["" if v is None else str(v) for v in r] for r in rows]
    expected = io.StringIO()
    csv.writer(expected).writerows([[safe_cell(v) for v in r] for r in rows])
    got = CsvFormatter(table).format([tuple(r) for r in rows])
    assert got.decode("utf-8") == expected.getvalue()


def test_csv_formatter_quotes_the_odd_row_among_plain_ones() -> None:
    table = TableSpec("t", (Column("a", "field", "a"), Column("b", "field", "b")))
    rows: list[list[str]] = [[f"x{i}", "y"] for i in range(20)]
    rows[3] = ['say "hi", then', "two\r\nlines"]
    rows[7] = ["=cmd", "-1"]
    expected = io.StringIO()
    csv.writer(expected).writerows([[safe_cell(v) for v in r] for r in rows])
    assert CsvFormatter(table).format([tuple(r) for r in rows]).decode() == expected.getvalue()
