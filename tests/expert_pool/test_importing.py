"""Importing an existing expert pool from CSV and XLSX with a per-row error report."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from core.person_id import make_person_id
from core.uscc import make_uscc
from expert_pool.classification import Classification
from expert_pool.importing import (
    ExpertRecord,
    ImportFileError,
    ImportResult,
    RowError,
    error_report_csv,
    parse_expert_rows,
)
from expert_pool.states import Title

TODAY = date(2025, 6, 1)
USCC = make_uscc("91350100MA2Y00001")
ZH_HEADER = ["姓名", "身份证号", "手机", "工作单位", "统一社会信用代码", "地区", "职称", "从业年限",
             "出生日期", "专业", "入库日期", "聘期至"]
EN_HEADER = ["name", "id_number", "phone", "employer", "employer_uscc", "region_code", "title",
             "years_of_practice", "birth_date", "specialties", "admitted_on", "term_until"]


@pytest.fixture(scope="module")
def table() -> Classification:
    return Classification.load()


def unique_id(serial: int) -> str:
    """Distinct valid numbers for up to 10 million serials (birth day and sequence vary)."""
    day = date(1960, 1, 1).toordinal() + serial // 1000
    born = date.fromordinal(day).strftime("%Y%m%d")
    return make_person_id(f"350102{born}{serial % 1000:03d}")


def row(serial: int, **overrides: str) -> list[str]:
    number = unique_id(serial)
    values = {
        "name": f"专家{serial}",
        "id_number": number,
        "phone": f"138{serial % 100000000:08d}",
        "employer": "福建省建筑设计研究院",
        "employer_uscc": USCC,
        "region_code": "350102",
        "title": "高级工程师",
        "years_of_practice": "12",
        "birth_date": f"{number[6:10]}-{number[10:12]}-{number[12:14]}",
        "specialties": "A0401；B0201",
        "admitted_on": "2020-01-15",
        "term_until": "2026-01-14",
    }
    values.update(overrides)
    return [values[field] for field in EN_HEADER]


def csv_bytes(rows: list[list[str]], *, header: list[str] = ZH_HEADER, encoding: str = "utf-8-sig",
              delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def parse(data: bytes, table: Classification, **kwargs: object) -> ImportResult:
    return parse_expert_rows(io.BytesIO(data), classification=table, today=TODAY, **kwargs)  # type: ignore[arg-type]


def only_error(result: ImportResult) -> RowError:
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


# ------------------------------------------------------------------- CSV


def test_csv_utf8_with_bom(table: Classification) -> None:
    rows = [row(1), row(2, title="中级", specialties="A04; c05", years_of_practice="8年"), row(3, title="正高级")]
    result = parse(csv_bytes(rows), table)
    assert result.ok and result.format == "csv" and result.encoding == "utf-8-sig"
    assert result.data_rows == 3
    first, second, third = result.records
    assert isinstance(first, ExpertRecord)
    assert first.row == 2 and second.row == 3 and third.row == 4
    assert first.name == "专家1" and first.id_number == unique_id(1)
    assert first.title is Title.SENIOR and second.title is Title.MID and third.title is Title.SENIOR
    assert first.specialties == ("A0401", "B0201")
    assert second.specialties == ("A04", "C05") and second.years_of_practice == 8
    assert first.employer_uscc == USCC and first.region_code == "350102"
    assert first.admitted_on == date(2020, 1, 15) and first.term_until == date(2026, 1, 14)
    assert first.birth_date == date(1960, 1, 1)
    with pytest.raises(AttributeError):
        first.name = "x"  # type: ignore[misc]


def test_csv_gbk(table: Classification) -> None:
    result = parse(csv_bytes([row(1), row(2)], encoding="gbk"), table)
    assert result.ok, result.errors
    assert result.encoding == "gb18030"
    assert [record.name for record in result.records] == ["专家1", "专家2"]
    assert result.records[0].employer == "福建省建筑设计研究院"


def test_csv_plain_utf8_english_headers_and_optional_columns(table: Classification) -> None:
    header = ["Name", "ID Number", "Mobile", "Employer", "Title", "Years", "Specialties*"]
    data = csv_bytes([["Li Lei", unique_id(5), "+86 138-0013-8000", "Acme", "senior", "10", "C04"]],
                     header=header, encoding="utf-8")
    result = parse(data, table)
    assert result.ok and result.encoding == "utf-8"
    record = result.records[0]
    assert record.phone == "13800138000"
    assert record.birth_date == date(1960, 1, 1)  # taken from the ID number
    assert record.employer_uscc is None and record.admitted_on is None


def test_header_markers_and_notes_are_ignored(table: Classification) -> None:
    header = [f"{name}*" for name in ZH_HEADER]
    header[9] = "专业（多个用分号分隔）"
    assert parse(csv_bytes([row(1)], header=header), table).ok


def test_every_accepted_header_is_documented() -> None:
    from expert_pool import importing

    for spec in importing.HEADERS:
        line = f"- {spec.field}: {', '.join(spec.headers)}"
        assert line in (importing.__doc__ or ""), line


def test_utf16_tab_separated(table: Classification) -> None:
    result = parse(csv_bytes([row(1)], encoding="utf-16", delimiter="\t"), table)
    assert result.ok and result.encoding == "utf-16"
    assert result.records[0].specialties == ("A0401", "B0201")


def test_paths_non_seekable_and_text_streams(table: Classification, tmp_path: Path) -> None:
    data = csv_bytes([row(1), row(2)])
    path = tmp_path / "pool.csv"
    path.write_bytes(data)
    assert len(parse_expert_rows(path, classification=table, today=TODAY).records) == 2

    class Pipe(io.RawIOBase):
        def __init__(self, payload: bytes) -> None:
            self._inner = io.BytesIO(payload)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            chunk = self._inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    stream = io.BufferedReader(Pipe(data))
    assert len(parse_expert_rows(stream, classification=table, today=TODAY).records) == 2
    text = io.StringIO(data.decode("utf-8-sig"))
    assert len(parse_expert_rows(text, classification=table, today=TODAY).records) == 2


def test_blank_rows_are_skipped_but_counted(table: Classification) -> None:
    data = csv_bytes([row(1), ["", "", ""], row(2, phone="12345")])
    result = parse(data, table)
    assert [record.row for record in result.records] == [2]
    assert only_error(result).row == 4


# ------------------------------------------------------------- field rules


def test_duplicate_id_names_the_earlier_row(table: Classification) -> None:
    result = parse(csv_bytes([row(1), row(2), row(1, name="张三")]), table)
    error = only_error(result)
    assert (error.row, error.field) == (4, "id_number")
    assert "row 2" in error.message
    assert [record.row for record in result.records] == [2, 3]


def test_bad_id_check_character(table: Classification) -> None:
    good = unique_id(1)
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    error = only_error(parse(csv_bytes([row(1, id_number=wrong, birth_date="")]), table))
    assert (error.row, error.field, error.value) == (2, "id_number", wrong)
    assert "check character" in error.message and repr(good[17]) in error.message


def test_bad_date_inside_id(table: Classification) -> None:
    bad = make_person_id("35010219990230123")  # 30 February, with a correct check character
    error = only_error(parse(csv_bytes([row(1, id_number=bad, birth_date="")]), table))
    assert error.field == "id_number" and "19990230" in error.message and "not a real date" in error.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("35010219750505", "18 characters"),
        ("350102750505123", "15-digit"),
        ("3.50102E+17", "stored as a number"),
        ("35010219750505123Y", "17 digits followed by a digit or X"),
    ],
)
def test_malformed_ids(table: Classification, value: str, fragment: str) -> None:
    error = only_error(parse(csv_bytes([row(1, id_number=value, birth_date="")]), table))
    assert error.field == "id_number" and fragment in error.message


def test_birth_date_must_match_the_id(table: Classification) -> None:
    error = only_error(parse(csv_bytes([row(1, birth_date="1960-01-02")]), table))
    assert error.field == "birth_date" and "1960-01-01" in error.message


@pytest.mark.parametrize("phone", ["1381234567", "12812345678", "010-12345678", "138123456789"])
def test_bad_phone(table: Classification, phone: str) -> None:
    error = only_error(parse(csv_bytes([row(1, phone=phone)]), table))
    assert (error.row, error.field, error.value) == (2, "phone", phone)
    assert "mobile" in error.message


def test_bad_specialty_with_suggestion(table: Classification) -> None:
    error = only_error(parse(csv_bytes([row(1, specialties="A0401;A4")]), table))
    assert error.field == "specialties" and "'A4'" in error.message and "did you mean A04" in error.message
    error = only_error(parse(csv_bytes([row(1, specialties="A0499")]), table))
    assert "not in the classification table" in error.message


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("employer_uscc", "91350100MA2Y000010", "check character"),
        ("region_code", "3501", "6-digit"),
        ("title", "初级", "junior"),
        ("title", "工程师", "title level"),
        ("years_of_practice", "71", "0 to 70"),
        ("years_of_practice", "ten", "whole number"),
        ("admitted_on", "2020-02-30", "not a real date"),
        ("admitted_on", "15/01/2020", "YYYY-MM-DD"),
        ("admitted_on", "2030-01-01", "future"),
        ("term_until", "2019-01-01", "before the admission date"),
        ("name", "", "required"),
    ],
)
def test_other_field_rules(table: Classification, field: str, value: str, fragment: str) -> None:
    overrides = {field: value}
    if field == "admitted_on":
        overrides["term_until"] = "2035-01-01"
    error = only_error(parse(csv_bytes([row(1, **overrides)]), table))
    assert error.field == field and fragment in error.message, error


def test_all_problems_of_a_row_are_reported(table: Classification) -> None:
    result = parse(csv_bytes([row(1, phone="1", title="x", specialties="Z9")]), table)
    assert {error.field for error in result.errors} == {"phone", "title", "specialties"}
    assert {error.column for error in result.errors} == {"C", "G", "J"}
    assert not result.records


def test_other_date_forms(table: Classification) -> None:
    result = parse(csv_bytes([row(1, admitted_on="2020/1/5", term_until="20260104"),
                              row(2, admitted_on="43831", term_until="2026年1月4日")]), table)
    assert result.ok, result.errors
    assert result.records[0].admitted_on == date(2020, 1, 5)
    assert result.records[1].admitted_on == date(2020, 1, 1)  # Excel serial day 43831
    assert result.records[1].term_until == date(2026, 1, 4)


def test_value_under_no_header(table: Classification) -> None:
    data = csv_bytes([row(1) + ["stray"]])
    error = only_error(parse(data, table))
    assert error.column == "M" and error.field == "" and "no header" in error.message


# ------------------------------------------------------------------ 1,000 rows


def test_thousand_rows_with_three_errors(table: Classification) -> None:
    rows = []
    for spreadsheet_row in range(2, 1001):
        overrides: dict[str, str] = {}
        if spreadsheet_row == 7:
            overrides["phone"] = "2345"
        elif spreadsheet_row == 731:
            good = unique_id(spreadsheet_row)
            overrides["id_number"] = good[:17] + ("1" if good[17] == "0" else "0")
        elif spreadsheet_row == 999:
            overrides["specialties"] = "A0401;B77"
        rows.append(row(spreadsheet_row, **overrides))
    result = parse(csv_bytes(rows), table)
    assert [(error.row, error.field) for error in result.errors] == [
        (7, "phone"), (731, "id_number"), (999, "specialties")
    ]
    assert len(result.records) == 999 - 3
    assert {record.row for record in result.records} == set(range(2, 1001)) - {7, 731, 999}

    report = error_report_csv(result.errors)
    assert report.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(report.decode("utf-8-sig"))))
    assert lines[0][0].endswith("row")
    assert [line[0] for line in lines[1:]] == ["7", "731", "999"]
    assert [line[2] for line in lines[1:]] == ["phone", "id_number", "specialties"]


def test_error_report_defuses_formulas() -> None:
    report = error_report_csv([RowError(3, "name", "=HYPERLINK(\"x\")", "bad", "A")]).decode("utf-8-sig")
    assert "'=HYPERLINK" in report
    assert report.endswith("\r\n")


# -------------------------------------------------------------------- XLSX


def workbook_bytes(rows: list[list[object]], header: list[str] = ZH_HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "专家"
    sheet.append(header)
    for values in rows:
        sheet.append(values)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx(table: Classification, tmp_path: Path) -> None:
    number = unique_id(1)
    typed = [  # the way Excel stores them: numbers and date cells
        "王伟", number, 13800138000, "福建省建筑设计研究院", USCC, 350102, "副高级", 15,
        datetime(1960, 1, 1), "A0401;C03", datetime(2021, 3, 1), 46000,
    ]
    rows: list[list[object]] = [typed, [], row(2), row(3, phone="99")]
    rows.append(["赵六", float(unique_id(4)[:17]), 13800138001, "x", None, None, "中级", 9, None, "B02", None, None])
    data = workbook_bytes(rows)
    path = tmp_path / "pool.xlsx"
    path.write_bytes(data)
    for source in (path, io.BytesIO(data)):
        result = parse_expert_rows(source, classification=table, today=TODAY)
        assert result.format == "xlsx" and result.encoding is None
        first, second = result.records
        assert (first.row, second.row) == (2, 4)  # row 3 is blank
        assert first.phone == "13800138000" and first.region_code == "350102"
        assert first.years_of_practice == 15 and first.title is Title.SENIOR
        assert first.admitted_on == date(2021, 3, 1)
        assert first.term_until == date(2025, 12, 9)  # Excel serial day 46000
        assert [(error.row, error.field) for error in result.errors] == [(5, "phone"), (6, "id_number")]
        assert "stored as a number" in result.errors[1].message


def test_xlsx_with_an_unknown_header(table: Classification) -> None:
    with pytest.raises(ImportFileError, match="'工号'"):
        parse(workbook_bytes([row(1) + ["7"]], header=ZH_HEADER + ["工号"]), table)


# -------------------------------------------------------- file-level errors


def test_unknown_header(table: Classification) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse(csv_bytes([row(1) + ["x"]], header=ZH_HEADER + ["备注栏"]), table)
    message = str(caught.value)
    assert "unknown column header" in message and "'备注栏' (column M)" in message
    assert "姓名/name" in message  # lists what is accepted


def test_missing_required_headers(table: Classification) -> None:
    header = [name for name in ZH_HEADER if name not in ("手机", "专业")]
    rows = [[value for name, value in zip(ZH_HEADER, row(1)) if name in header]]
    with pytest.raises(ImportFileError) as caught:
        parse(csv_bytes(rows, header=header), table)
    assert "required columns missing" in str(caught.value)
    assert "手机/phone" in str(caught.value) and "专业/specialties" in str(caught.value)


def test_same_field_twice(table: Classification) -> None:
    with pytest.raises(ImportFileError, match="phone appears twice"):
        parse(csv_bytes([row(1) + ["13800138000"]], header=ZH_HEADER + ["phone"]), table)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty (0 bytes)"),
        (b"\r\n\r\n,,\r\n", "no rows"),
        (",".join(ZH_HEADER).encode("utf-8"), "no data rows"),
        (bytes(range(256)) * 40, "NUL bytes"),
        (b"\x81\xff\xfe garbage \xff\x80", "neither UTF-8 nor GBK"),
        (b"%PDF-1.7 hello,world\n1,2\n", "none of its cells is a known header"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003"),
    ],
)
def test_unusable_files(table: Classification, data: bytes, fragment: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse(data, table)
    assert fragment in str(caught.value)
    assert caught.value.errors and caught.value.errors[0].pointer == "$.file"


def test_wrong_format(table: Classification, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="not an XLSX workbook"):
        parse(csv_bytes([row(1)]), table, format="xlsx")
    with pytest.raises(ImportFileError, match="not CSV text"):
        parse(workbook_bytes([row(1)]), table, format="csv")
    other_zip = io.BytesIO()
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(ImportFileError, match="not a readable XLSX workbook"):
        parse(other_zip.getvalue(), table)
    misnamed = tmp_path / "pool.xlsx"
    misnamed.write_bytes(csv_bytes([row(1)]))
    with pytest.raises(ImportFileError, match="named .xlsx but is not an XLSX workbook"):
        parse_expert_rows(misnamed, classification=table, today=TODAY)


# --------------------------------------------------------------- 100k rows


def test_hundred_thousand_rows(table: Classification, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    started = time.perf_counter()
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ZH_HEADER)
        template = row(0)
        for serial in range(100_000):
            number = unique_id(serial)
            template[1] = number
            template[2] = f"13{serial:09d}"
            template[8] = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
            writer.writerow(template)
    written = time.perf_counter()
    result = parse_expert_rows(path, classification=table, today=TODAY)
    parsed = time.perf_counter()
    print(f"\n100k rows: wrote {path.stat().st_size / 1e6:.1f} MB in {written - started:.2f} s, "
          f"parsed in {parsed - written:.2f} s")
    assert len(result.records) == 100_000 and not result.errors
