"""Import an existing expert pool from a CSV or XLSX file, with a per-row error report.

An error in row 731 stops nothing else: every row is checked on its own, a row with any
error is left out of :attr:`ImportResult.records` and each problem becomes a
:class:`RowError` naming the spreadsheet row (1-based, the header being row 1 when it is
the first row), the field, the value and what is wrong. Only problems with the file as a
whole (not CSV/XLSX, empty, unknown or missing headers) raise :class:`ImportFileError`.
Nothing here touches the database: the domain persists the records.

Rows are streamed: CSV through the ``csv`` module, XLSX through openpyxl's read-only mode,
so memory holds the records and errors, never all cells of the file.

CSV encodings: UTF-8 (with or without BOM), UTF-16 with BOM, and GBK/GB18030 (what Excel
writes on Chinese Windows); the encoding is detected by scanning the bytes. The delimiter
is a comma, or a tab when the header row has more tabs than commas.

The header is the first non-blank row; Chinese and English names are both accepted, and
case, spaces, a ``*`` marker and a parenthesised note (``专业（多个用分号分隔）``) are
ignored. Required columns:

- name: 姓名, name, full_name
- id_number: 身份证号, 身份证号码, 公民身份号码, 身份证, id_number, id_no
- phone: 手机, 手机号, 手机号码, 移动电话, phone, mobile
- employer: 工作单位, 单位, 单位名称, employer
- title: 职称, 职称等级, title
- years_of_practice: 从业年限, 工作年限, years_of_practice, years
- specialties: 专业, 评标专业, 专业代码, specialties, specialty

Optional columns (an empty cell is None):

- employer_uscc: 统一社会信用代码, 单位统一社会信用代码, employer_uscc, uscc
- region_code: 地区, 地区代码, 行政区划代码, region_code, region
- birth_date: 出生日期, birth_date, date_of_birth
- admitted_on: 入库日期, admitted_on
- term_until: 聘期至, 聘期截止, 聘期截止日期, term_until

Any other header is a file-level error, as is a required column missing or a field given
twice (e.g. both 手机 and phone).

Field rules:

- id_number: resident ID number, GB 11643-1999: 18 characters, 17 digits and a MOD 11-2
  check character (digit or X); the embedded birth date (characters 7-14) must be a real
  date not in the future, and must equal ``birth_date`` when both are given (without a
  ``birth_date`` column the record takes the embedded one). The same ID number twice in
  a file is an error on the later row, naming the earlier one.
- phone: mainland mobile number, 11 digits ``1[3-9]xxxxxxxxx`` (spaces, hyphens and a
  ``+86`` prefix are dropped).
- employer_uscc: unified social credit code, GB 32100-2015 (:func:`core.uscc.validate_uscc`).
- region_code: 6-digit administrative division code.
- title: ``senior`` (正高级, 副高级, 高级, 正高, 副高, 教授级高级, or a title starting with
  one of them, e.g. 高级工程师) or ``mid`` (中级, e.g. 中级经济师); 初级 is refused.
- years_of_practice: whole number 0-70 (a trailing 年 is allowed).
- specialties: one or more classification codes separated by ``;``, ``；``, ``,``, ``，``
  or ``、``, each checked by :meth:`Classification.validate` against the loaded table.
- dates: ``YYYY-MM-DD`` (also ``/`` or ``.`` as separators, ``YYYYMMDD``,
  ``YYYY年M月D日``), a date cell in XLSX, or an Excel serial day number; ``term_until``
  may not precede ``admitted_on``, and ``admitted_on`` may not be in the future.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from core.clock import to_shanghai, utcnow
from core.errors import FieldError, InvalidInput
from core.person_id import InvalidPersonId, birth_date_of, person_id_check_character
from core.uscc import InvalidUSCC, validate_uscc
from expert_pool.classification import Classification, SpecialtyError
from expert_pool.states import Title

Source = str | os.PathLike[str] | IO[bytes] | IO[str]

_SPOOL_LIMIT = 8 * 1024 * 1024
_SCAN_CHUNK = 1024 * 1024
_MAX_SHOWN_VALUE = 200
_MEMO_LIMIT = 50_000
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# ---------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ExpertRecord:
    """One valid row. ``row`` is the spreadsheet row it came from."""

    row: int
    name: str
    id_number: str
    phone: str
    employer: str
    title: Title
    years_of_practice: int
    specialties: tuple[str, ...]
    birth_date: date
    employer_uscc: str | None = None
    region_code: str | None = None
    admitted_on: date | None = None
    term_until: date | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one row: ``row`` is 1-based and counts the header row.

    ``field`` is the canonical field name (``id_number``...), or ``""`` for a cell that
    belongs to no column; ``column`` is the spreadsheet column letter.
    """

    row: int
    field: str
    value: str
    message: str
    column: str = ""


@dataclass(frozen=True)
class ImportResult:
    records: list[ExpertRecord]
    errors: list[RowError]
    format: str
    encoding: str | None = None
    data_rows: int = 0
    """Non-blank rows after the header."""
    headers: dict[str, str] = field(default_factory=dict)
    """Canonical field -> the header as written in the file."""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({error.row for error in self.errors})


class ImportFileError(InvalidInput):
    """The file as a whole cannot be imported; ``problems`` lists every reason."""

    code = "invalid-import-file"
    title = "The import file cannot be read"

    def __init__(self, detail: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [detail]
        super().__init__(
            detail, [FieldError(pointer="$.file", message=problem) for problem in self.problems]
        )


class _Problem(Exception):
    """A field value is wrong; the message says why."""


# ----------------------------------------------------------------- field parsers


@dataclass
class _Context:
    today: date
    classification: Classification | None = None
    epoch: datetime = datetime(1899, 12, 30)


def _today() -> date:
    return to_shanghai(utcnow()).date()


def _fold(value: Any) -> str:
    """Cell value as text, full-width folded, stripped (for codes and numbers)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text.strip() if text.isascii() else unicodedata.normalize("NFKC", text).strip()


def _parse_text(limit: int) -> Callable[[Any, _Context], str]:
    def parse(value: Any, context: _Context) -> str:
        text = " ".join(str(value).split())
        if _CONTROL.search(text):
            raise _Problem("contains control characters")
        if len(text) > limit:
            raise _Problem(f"is {len(text)} characters long; at most {limit} are allowed")
        return text

    return parse


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SCIENTIFIC = re.compile(r"\d(\.\d+)?E\+?\d+", re.IGNORECASE)


def _parse_id(value: Any, context: _Context) -> str:
    if isinstance(value, float) or (isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip())):
        raise _Problem(
            "the ID number was stored as a number, and spreadsheets keep only 15 significant "
            "digits, so its last digits are lost: format the column as text and enter it again"
        )
    text = re.sub(r"\s", "", _fold(value)).upper()
    if len(text) == 15 and text.isdigit():
        raise _Problem("15-digit first-generation ID numbers are not accepted; give the 18-digit number")
    if len(text) != 18:
        raise _Problem(f"a resident ID number has 18 characters, this one has {len(text)}")
    if not (text[:17].isascii() and text[:17].isdigit()) or not (text[17].isdigit() or text[17] == "X"):
        raise _Problem("a resident ID number is 17 digits followed by a digit or X")
    try:
        born = birth_date_of(text)
    except InvalidPersonId:
        raise _Problem(f"the birth date in the ID number (characters 7-14, {text[6:14]}) is not a real date") from None
    if born > context.today:
        raise _Problem(f"the birth date in the ID number ({born.isoformat()}) is in the future")
    if born.year < 1900:
        raise _Problem(f"the birth date in the ID number ({born.isoformat()}) is before 1900")
    expected = person_id_check_character(text[:17])
    if text[17] != expected:
        raise _Problem(
            f"the ID number fails its check character (GB 11643-1999 MOD 11-2): "
            f"the 18th character should be {expected!r}, not {text[17]!r}"
        )
    return text


_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def _parse_phone(value: Any, context: _Context) -> str:
    text = re.sub(r"[\s\-()]", "", _fold(value))
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif len(text) == 13 and text.startswith("86"):
        text = text[2:]
    if not _MOBILE.fullmatch(text):
        raise _Problem("a mainland mobile number has 11 digits and starts with 13-19 (e.g. 13812345678)")
    return text


def _parse_uscc(value: Any, context: _Context) -> str:
    try:
        return validate_uscc(_fold(value))
    except InvalidUSCC as exc:
        raise _Problem(str(exc)) from None


def _parse_region(value: Any, context: _Context) -> str:
    text = _fold(value)
    if not (len(text) == 6 and text.isascii() and text.isdigit()) or text == "000000":
        raise _Problem("a region code is the 6-digit administrative division code (e.g. 110105)")
    return text


_SENIOR_PREFIXES = ("教授级高级", "正高级", "副高级", "正高", "副高", "高级")
_MID_PREFIXES = ("中级",)
_JUNIOR_PREFIXES = ("初级", "助理级", "员级")


def _parse_title(value: Any, context: _Context) -> Title:
    text = _fold(value).lower()
    if text in ("senior", "senior title"):
        return Title.SENIOR
    if text in ("mid", "middle", "intermediate", "mid-level"):
        return Title.MID
    if text.startswith(_SENIOR_PREFIXES):
        return Title.SENIOR
    if text.startswith(_MID_PREFIXES):
        return Title.MID
    if text.startswith(_JUNIOR_PREFIXES) or text == "junior":
        raise _Problem("a junior title does not qualify for the expert pool (senior or mid-level required)")
    raise _Problem("expected a title level: 正高级, 副高级, 高级, 中级 (or senior, mid)")


_YEARS = re.compile(r"([0-9]+)(?:\.0+)?\s*年?")


def _parse_years(value: Any, context: _Context) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise _Problem("years of practice must be a whole number")
    match = _YEARS.fullmatch(_fold(value))
    if not match:
        raise _Problem("years of practice must be a whole number from 0 to 70")
    years = int(match.group(1))
    if years > 70:
        raise _Problem(f"years of practice must be from 0 to 70, not {years}")
    return years


_DATE_SEPARATED = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]0{1,2}:00(?::00(?:\.0+)?)?)?")
_DATE_CHINESE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_EXCEL_SERIAL = re.compile(r"\d{1,5}(?:\.0+)?")


def _excel_serial(number: float, context: _Context) -> date:
    from openpyxl.utils.datetime import from_excel

    if not float(number).is_integer() or not 1 <= number <= 2958465:
        raise _Problem(f"{number} is not an Excel date")
    return from_excel(int(number), context.epoch).date()


def _parse_date(value: Any, context: _Context) -> date:
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            raise _Problem("expected a date without a time of day")
        return _date_in_range(value.date())
    if isinstance(value, date):
        return _date_in_range(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _date_in_range(_excel_serial(value, context))
    text = _fold(value)
    for pattern in (_DATE_SEPARATED, _DATE_CHINESE, _DATE_COMPACT):
        match = pattern.fullmatch(text)
        if match:
            try:
                parsed = date(*(int(part) for part in match.groups()))
            except ValueError:
                raise _Problem(f"{text} is not a real date") from None
            return _date_in_range(parsed)
    if _EXCEL_SERIAL.fullmatch(text):
        return _date_in_range(_excel_serial(float(text), context))
    raise _Problem("expected a date as YYYY-MM-DD")


def _date_in_range(value: date) -> date:
    if not 1900 <= value.year <= 2100:
        raise _Problem(f"{value.isoformat()} is outside 1900-2100")
    return value


_SPECIALTY_SEPARATORS = re.compile(r"[;；,，、\s]+")


def _parse_specialties(value: Any, context: _Context) -> tuple[str, ...]:
    assert context.classification is not None
    codes: list[str] = []
    problems: list[str] = []
    for part in _SPECIALTY_SEPARATORS.split(str(value)):
        if not part:
            continue
        try:
            code = context.classification.validate(part)
        except SpecialtyError as exc:
            problems.append(str(exc))
            continue
        if code not in codes:
            codes.append(code)
    if problems:
        raise _Problem("; ".join(problems) if len(problems) == 1 else " | ".join(problems))
    if not codes:
        raise _Problem("at least one specialty code is required")
    return tuple(codes)


# ------------------------------------------------------------------- headers


@dataclass(frozen=True)
class HeaderSpec:
    field: str
    headers: tuple[str, ...]
    required: bool
    parse: Callable[[Any, _Context], Any]
    pure: bool = False
    """The result depends on the value alone, so repeated values are parsed once."""


HEADERS: tuple[HeaderSpec, ...] = (
    HeaderSpec("name", ("姓名", "name", "full_name"), True, _parse_text(64)),
    HeaderSpec("id_number", ("身份证号", "身份证号码", "公民身份号码", "身份证", "id_number", "id_no"), True, _parse_id),
    HeaderSpec("phone", ("手机", "手机号", "手机号码", "移动电话", "phone", "mobile"), True, _parse_phone),
    HeaderSpec("employer", ("工作单位", "单位", "单位名称", "employer"), True, _parse_text(200), pure=True),
    HeaderSpec("title", ("职称", "职称等级", "title"), True, _parse_title, pure=True),
    HeaderSpec("years_of_practice", ("从业年限", "工作年限", "years_of_practice", "years"), True, _parse_years, pure=True),
    HeaderSpec("specialties", ("专业", "评标专业", "专业代码", "specialties", "specialty"), True, _parse_specialties, pure=True),
    HeaderSpec("employer_uscc", ("统一社会信用代码", "单位统一社会信用代码", "employer_uscc", "uscc"), False, _parse_uscc, pure=True),
    HeaderSpec("region_code", ("地区", "地区代码", "行政区划代码", "region_code", "region"), False, _parse_region, pure=True),
    HeaderSpec("birth_date", ("出生日期", "birth_date", "date_of_birth"), False, _parse_date, pure=True),
    HeaderSpec("admitted_on", ("入库日期", "admitted_on"), False, _parse_date, pure=True),
    HeaderSpec("term_until", ("聘期至", "聘期截止", "聘期截止日期", "term_until"), False, _parse_date, pure=True),
)
"""The accepted columns; ``headers`` lists the names accepted for each."""


def header_key(text: str) -> str:
    """How a header cell is compared: folded, lower-case, notes and markers dropped."""
    key = unicodedata.normalize("NFKC", str(text)).strip().lower()
    key = re.sub(r"\(.*?\)|\[.*?\]", "", key)
    key = key.strip(" *:").strip()
    return re.sub(r"[\s\-]+", "_", key)


_BY_HEADER = {header_key(alias): spec for spec in HEADERS for alias in spec.headers}
_SPEC = {spec.field: spec for spec in HEADERS}


def _accepted_headers() -> str:
    return "; ".join(f"{spec.headers[0]}/{spec.field}" for spec in HEADERS)


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _map_headers(cells: tuple[Any, ...], row: int) -> dict[str, int]:
    columns: dict[str, int] = {}
    unknown: list[str] = []
    duplicate: list[str] = []
    for index, cell in enumerate(cells):
        if _blank(cell):
            continue
        spec = _BY_HEADER.get(header_key(str(cell)))
        if spec is None:
            unknown.append(f"{str(cell).strip()!r} (column {column_letter(index)})")
        elif spec.field in columns:
            duplicate.append(
                f"{spec.field} appears twice: column {column_letter(columns[spec.field])} "
                f"and column {column_letter(index)} ({str(cell).strip()!r})"
            )
        else:
            columns[spec.field] = index
    problems: list[str] = []
    if not columns:
        raise ImportFileError(
            f"row {row} should be the header row, but none of its cells is a known header; "
            f"the accepted headers are: {_accepted_headers()}"
        )
    if unknown:
        problems.append(
            f"unknown column header{'s' if len(unknown) > 1 else ''} in row {row}: {', '.join(unknown)}; "
            f"the accepted headers are: {_accepted_headers()}"
        )
    problems.extend(duplicate)
    missing = [spec for spec in HEADERS if spec.required and spec.field not in columns]
    if missing:
        problems.append(
            "required column"
            + ("s" if len(missing) > 1 else "")
            + " missing: "
            + ", ".join(f"{spec.headers[0]}/{spec.field}" for spec in missing)
        )
    if problems:
        raise ImportFileError(" ".join(problems), problems)
    return columns


# --------------------------------------------------------------------- parsing


def parse_expert_rows(
    source: Source,
    *,
    format: str | None = None,
    classification: Classification,
    sheet: str | None = None,
    today: date | None = None,
) -> ImportResult:
    """Parse an expert file into valid records and per-row errors.

    ``source`` is a path or a binary stream (a text stream is read as CSV). ``format`` is
    ``"csv"``, ``"xlsx"`` or None to decide from the file's first bytes and name.
    ``sheet`` picks an XLSX worksheet (default: the first). ``today`` (default: today in
    Asia/Shanghai) bounds birth and admission dates. Raises :class:`ImportFileError`
    when the file as a whole is unusable.
    """
    if format not in (None, "csv", "xlsx"):
        raise ValueError(f"format must be 'csv', 'xlsx' or None, not {format!r}")
    context = _Context(today=today or _today(), classification=classification)
    with ExitStack() as stack:
        encoding: str | None = None
        if isinstance(source, io.TextIOBase):
            if format == "xlsx":
                raise ImportFileError("an XLSX workbook must be given as bytes, not as a text stream")
            kind, rows = "csv", _csv_text_rows(source)
        else:
            raw, name = _open_binary(source, stack)
            kind = _decide_format(raw, name, format)
            if kind == "csv":
                rows, encoding = _csv_rows(raw)
            else:
                rows = _xlsx_rows(raw, sheet, context)
        stack.enter_context(closing(rows))  # stop the reader even when parsing raises
        return _parse_rows(rows, context, kind, encoding)


def _parse_rows(
    rows: Iterator[tuple[int, tuple[Any, ...]]], context: _Context, kind: str, encoding: str | None
) -> ImportResult:
    header_row, header_cells = None, ()
    for number, cells in rows:
        if not _blank_row(cells):
            header_row, header_cells = number, cells
            break
    if header_row is None:
        raise ImportFileError("the file has no rows: it is blank")
    columns = _map_headers(header_cells, header_row)
    headers = {name: str(header_cells[index]).strip() for name, index in columns.items()}
    mapped = set(columns.values())
    unmapped = [index for index in range(len(header_cells)) if index not in mapped]
    width = len(header_cells)
    parsers = [(name, index, _SPEC[name]) for name, index in columns.items()]
    memo: dict[tuple[str, str], Any] = {}

    records: list[ExpertRecord] = []
    errors: list[RowError] = []
    seen_ids: dict[str, int] = {}
    data_rows = 0
    for number, cells in rows:
        if _blank_row(cells):
            continue
        data_rows += 1
        values: dict[str, Any] = {}
        problems: list[RowError] = []
        for name, index, spec in parsers:
            value = cells[index] if index < len(cells) else None
            if _blank(value):
                if spec.required:
                    problems.append(
                        RowError(number, name, "", f"{headers[name]} is required", column_letter(index))
                    )
                else:
                    values[name] = None
                continue
            key = (name, value) if spec.pure and isinstance(value, str) else None
            outcome = None if key is None else memo.get(key)
            if outcome is None:
                try:
                    outcome = spec.parse(value, context)
                except _Problem as exc:
                    outcome = exc.with_traceback(None)  # kept in the memo: drop the frames
                if key is not None and len(memo) < _MEMO_LIMIT:
                    memo[key] = outcome
            if isinstance(outcome, _Problem):
                problems.append(RowError(number, name, _shown(value), str(outcome), column_letter(index)))
            else:
                values[name] = outcome
        for index in [*unmapped, *range(width, len(cells))]:
            value = cells[index] if index < len(cells) else None
            if not _blank(value):
                problems.append(
                    RowError(
                        number,
                        "",
                        _shown(value),
                        f"column {column_letter(index)} has a value but no header",
                        column_letter(index),
                    )
                )
        id_number = values.get("id_number")
        if id_number is not None:
            earlier = seen_ids.get(id_number)
            if earlier is not None:
                problems.append(
                    RowError(
                        number,
                        "id_number",
                        id_number,
                        f"duplicate ID number: the same number is in row {earlier}",
                        column_letter(columns["id_number"]),
                    )
                )
            else:
                seen_ids[id_number] = number
            embedded = birth_date_of(id_number)
            given = values.get("birth_date")
            if given is None:
                values["birth_date"] = embedded
            elif given != embedded:
                problems.append(
                    RowError(
                        number,
                        "birth_date",
                        given.isoformat(),
                        f"birth date {given.isoformat()} differs from the one in the ID number "
                        f"({embedded.isoformat()})",
                        column_letter(columns["birth_date"]),
                    )
                )
        born = values.get("birth_date")
        if id_number is None and born is not None and born > context.today:
            problems.append(
                RowError(number, "birth_date", born.isoformat(),
                         "the birth date is in the future", column_letter(columns["birth_date"]))
            )
        admitted, until = values.get("admitted_on"), values.get("term_until")
        if admitted is not None and admitted > context.today:
            problems.append(
                RowError(number, "admitted_on", admitted.isoformat(),
                         "the admission date is in the future", column_letter(columns["admitted_on"]))
            )
        if admitted is not None and until is not None and until < admitted:
            problems.append(
                RowError(number, "term_until", until.isoformat(),
                         f"the term ends ({until.isoformat()}) before the admission date "
                         f"({admitted.isoformat()})", column_letter(columns["term_until"]))
            )
        if problems:
            errors.extend(problems)
            continue
        records.append(
            ExpertRecord(
                row=number,
                name=values["name"],
                id_number=values["id_number"],
                phone=values["phone"],
                employer=values["employer"],
                title=values["title"],
                years_of_practice=values["years_of_practice"],
                specialties=values["specialties"],
                birth_date=values["birth_date"],
                employer_uscc=values.get("employer_uscc"),
                region_code=values.get("region_code"),
                admitted_on=values.get("admitted_on"),
                term_until=values.get("term_until"),
            )
        )
    if data_rows == 0:
        raise ImportFileError(f"the file has a header row (row {header_row}) but no data rows")
    return ImportResult(records, errors, kind, encoding, data_rows, headers)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _blank_row(cells: tuple[Any, ...]) -> bool:
    for value in cells:
        if value is not None and (not isinstance(value, str) or value.strip()):
            return False
    return True


def _shown(value: Any) -> str:
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        text = value.date().isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    return text if len(text) <= _MAX_SHOWN_VALUE else text[: _MAX_SHOWN_VALUE - 1] + "…"


# --------------------------------------------------------------- file access


def _open_binary(source: Source, stack: ExitStack) -> tuple[IO[bytes], str]:
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        try:
            handle = stack.enter_context(open(path, "rb"))  # noqa: SIM115 - the ExitStack closes it
        except OSError as exc:
            raise ImportFileError(f"cannot open {path}: {exc.strerror or exc}") from None
        return handle, path
    name = str(getattr(source, "name", "") or "")
    try:
        seekable = source.seekable()
    except (AttributeError, ValueError):
        seekable = False
    if seekable:
        return source, name  # type: ignore[return-value]
    spool = stack.enter_context(tempfile.SpooledTemporaryFile(max_size=_SPOOL_LIMIT))  # noqa: SIM115
    while chunk := source.read(_SCAN_CHUNK):
        if isinstance(chunk, str):
            raise ImportFileError("expected a binary stream (open the file with 'rb')")
        spool.write(chunk)
    spool.seek(0)
    return spool, name  # type: ignore[return-value]


def _decide_format(raw: IO[bytes], name: str, wanted: str | None) -> str:
    start = raw.tell()
    head = raw.read(8)
    raw.seek(start)
    if not head:
        raise ImportFileError("the file is empty (0 bytes)")
    extension = os.path.splitext(name)[1].lower()
    if head.startswith(_OLE_MAGIC) or (wanted is None and extension == ".xls"):
        raise ImportFileError(
            "this is a legacy Excel 97-2003 (.xls) file, which is not supported: "
            "save it as .xlsx or CSV and import that"
        )
    is_zip = head.startswith(_XLSX_MAGIC)
    if wanted == "xlsx" and not is_zip:
        raise ImportFileError("the file is not an XLSX workbook (it does not start with the ZIP signature)")
    if wanted == "csv" and is_zip:
        raise ImportFileError("the file is a ZIP archive (an XLSX workbook?), not CSV text: import it as xlsx")
    if wanted is not None:
        return wanted
    if is_zip:
        return "xlsx"
    if extension in (".xlsx", ".xlsm"):
        raise ImportFileError(f"the file is named {extension} but is not an XLSX workbook (no ZIP signature)")
    return "csv"


# ----------------------------------------------------------------------- CSV


def _csv_rows(raw: IO[bytes]) -> tuple[Generator[tuple[int, tuple[Any, ...]], None, None], str]:
    start = raw.tell()
    head = raw.read(4)
    raw.seek(start)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
        _scan(raw, "utf-8-sig", start)
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
        _scan(raw, "utf-16", start)
    else:
        encoding = "utf-8" if _scan(raw, "utf-8", start, quiet=True) else "gb18030"
        if encoding == "gb18030":
            _scan(raw, "gb18030", start)
    raw.seek(start)
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")  # type: ignore[arg-type]
    return _csv_text_rows(text, detach=True), encoding


def _scan(raw: IO[bytes], encoding: str, start: int, *, quiet: bool = False) -> bool:
    """Check that the whole file decodes (and is text); False or ImportFileError if not."""
    raw.seek(start)
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    try:
        while chunk := raw.read(_SCAN_CHUNK):
            if (b"\x00" in chunk and not encoding.startswith("utf-16")) or "\x00" in decoder.decode(chunk):
                raise ImportFileError(
                    "the file is not CSV text: it contains NUL bytes (a binary file, or a "
                    "spreadsheet saved in another format?)"
                )
            offset += len(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        if quiet:
            return False
        raise ImportFileError(
            f"the file is not readable CSV text: it is neither UTF-8 nor GBK/GB18030 "
            f"(undecodable bytes near byte {offset + exc.start})"
        ) from None
    finally:
        raw.seek(start)
    return True


def _csv_text_rows(
    text: IO[str], *, detach: bool = False
) -> Generator[tuple[int, tuple[Any, ...]], None, None]:
    first = text.readline()
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    number = 0
    try:
        lines: Iterable[str] = _chain_first(first.lstrip("\ufeff"), text)
        reader = csv.reader(lines, delimiter=delimiter)
        for cells in reader:
            number += 1
            yield number, tuple(cells)
    except csv.Error as exc:
        raise ImportFileError(f"the CSV text is malformed near row {number + 1}: {exc}") from None
    finally:
        if detach:
            try:
                text.detach()  # leave the underlying binary stream to its owner
            except ValueError:
                pass


def _chain_first(first: str, rest: IO[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest


# ---------------------------------------------------------------------- XLSX


def _xlsx_rows(
    raw: IO[bytes], sheet: str | None, context: _Context
) -> Generator[tuple[int, tuple[Any, ...]], None, None]:
    from openpyxl import load_workbook  # imported here: CSV imports do not need it

    try:
        workbook = load_workbook(raw, read_only=True, data_only=True)
    except zipfile.BadZipFile:
        raise ImportFileError("the file is not a readable XLSX workbook: the ZIP archive is damaged") from None
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for "not a workbook"
        raise ImportFileError(f"the file is not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    try:
        if sheet is not None:
            if sheet not in workbook.sheetnames:
                raise ImportFileError(f"the workbook has no sheet {sheet!r}; it has {workbook.sheetnames}")
            worksheet = workbook[sheet]
        elif workbook.worksheets:
            worksheet = workbook.worksheets[0]
        else:
            raise ImportFileError("the workbook has no worksheets")
        context.epoch = workbook.epoch
        worksheet.reset_dimensions()  # trust the cells, not a possibly wrong <dimension>
        number = 0
        try:
            for cells in worksheet.iter_rows(values_only=True):
                number += 1
                yield number, cells
        except ImportFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - damaged XML inside the workbook
            raise ImportFileError(
                f"the workbook could not be read past row {number} ({type(exc).__name__}: {exc})"
            ) from None
    finally:
        workbook.close()


# -------------------------------------------------------------------- report

_REPORT_HEADER = ("行号 row", "列 column", "字段 field", "值 value", "错误 message")


def error_report_csv(errors: Iterable[RowError]) -> bytes:
    """A CSV report of row errors: UTF-8 with BOM (Excel opens it right), CRLF lines.

    Values that a spreadsheet would run as a formula (starting ``=``, ``+``, ``-``,
    ``@``) are prefixed with ``'``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_REPORT_HEADER)
    for error in errors:
        writer.writerow(
            (error.row, error.column, error.field, _defuse(error.value), _defuse(error.message))
        )
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def _defuse(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
