"""The bid package: what a sealed envelope holds, and the opening sheet read at the opening.

The plaintext inside a bid envelope is a ZIP archive::

    opening-sheet.json      the 开标一览表, read aloud (shown) at the opening
    <any other files>       the bid documents (technical, commercial, qualifications...)

``opening-sheet.json`` is a small UTF-8 JSON object::

    {
      "format": "bidhall-opening-sheet/1",
      "lot_code": "GC-2026-0001-L01",          # the lot the bid is for
      "total_price": "11800000.00",            # yuan, a decimal string, 2 places at most
      "items": {                               # per segment, see SEGMENT_ITEMS
        "duration_days": 365, "quality": "合格",
        "project_manager": "张三", "validity_days": 90
      }
    }

The platform never trusts it blindly: :func:`read_opening_sheet` checks that the archive
is a ZIP, that the sheet is there, small, valid JSON in this shape, that the price is a
positive amount and that the items the segment requires are present. Every failure is a
:class:`BidPackageError` with one sentence saying what is wrong; the opening records that
sentence against the bid (the bid *was* opened: its key was right) and goes on.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from core.errors import InvalidInput

SHEET_NAME: Final = "opening-sheet.json"
SHEET_FORMAT: Final = "bidhall-opening-sheet/1"
MAX_SHEET_BYTES: Final = 64 * 1024
MAX_TEXT: Final = 200
MAX_PRICE: Final = Decimal("9999999999999999.99")  # what Numeric(18, 2) holds

# Items of the opening sheet by segment: (name, kind, required). Kinds: "days" (a whole
# number of days, 1..36500), "text" (up to MAX_TEXT characters).
# The price in words and the priced lines are optional: the evaluation corrects the total
# from them (words beat figures, unit price beats total; ``evaluation.methods.correct_price``).
PRICE_ITEMS: Final = (("total_price_words", "text", False), ("price_items", "price_lines", False))
MAX_PRICE_LINES: Final = 500
SEGMENT_ITEMS: Final[dict[str, tuple[tuple[str, str, bool], ...]]] = {
    "construction": (("duration_days", "days", True), ("quality", "text", True),
                     ("project_manager", "text", True), ("validity_days", "days", True), *PRICE_ITEMS),
    "government_procurement": (("delivery_days", "days", True), ("warranty_months", "days", False),
                               ("validity_days", "days", True), *PRICE_ITEMS),
    "land_mining": (("payment_days", "days", False), ("validity_days", "days", False)),
    "state_property": (("payment_days", "days", False), ("validity_days", "days", False)),
}
ITEM_KINDS: Final = {name: kind for items in SEGMENT_ITEMS.values() for name, kind, _ in items}


class BidPackageError(InvalidInput):
    """The opened bid package cannot be read: not a ZIP, no opening sheet, or a sheet
    that is malformed. The detail is the reason recorded at the opening."""

    code = "bid-package-unreadable"
    title = "The bid package cannot be read"


@dataclass(frozen=True)
class OpeningSheet:
    """The opening sheet of one bid: its total price and the segment's other items."""

    lot_code: str
    total_price: Decimal
    items: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": SHEET_FORMAT, "lot_code": self.lot_code, "total_price": f"{self.total_price:.2f}",
                "items": dict(self.items)}


def make_bid_package(destination: str | Path, sheet: OpeningSheet | dict[str, Any],
                     documents: dict[str, bytes | Path] | None = None) -> Path:
    """Write a bid package (the plaintext a bidder then seals) to ``destination``.

    ``sheet`` is an :class:`OpeningSheet` or the JSON object itself (tests write broken
    ones on purpose); ``documents`` maps names inside the archive to bytes or files.
    """
    destination = Path(destination)
    body = sheet.to_json() if isinstance(sheet, OpeningSheet) else sheet
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(SHEET_NAME, json.dumps(body, ensure_ascii=False, indent=2))
        for name, content in (documents or {}).items():
            if name == SHEET_NAME:
                raise ValueError(f"{SHEET_NAME} is the opening sheet; name the document otherwise")
            if isinstance(content, Path):
                archive.write(content, name)
            else:
                archive.writestr(name, content)
    return destination


def read_opening_sheet(path: str | Path, *, segment: str | None = None, lot_code: str | None = None) -> OpeningSheet:
    """The opening sheet of the package at ``path``, checked; :class:`BidPackageError`
    naming the first problem otherwise. With ``segment`` its required items are checked;
    with ``lot_code`` the sheet must be for that lot."""
    raw = _sheet_bytes(Path(path))
    try:
        document = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as error:
        raise BidPackageError(f"{SHEET_NAME} is not valid UTF-8 JSON: {error}") from None
    if not isinstance(document, dict):
        raise BidPackageError(f"{SHEET_NAME} must be a JSON object")
    if document.get("format") != SHEET_FORMAT:
        raise BidPackageError(f"{SHEET_NAME}: format must be {SHEET_FORMAT!r}, not {document.get('format')!r}")
    unknown = sorted(set(document) - {"format", "lot_code", "total_price", "items"})
    if unknown:
        raise BidPackageError(f"{SHEET_NAME}: unknown field(s) {', '.join(unknown)}")
    sheet_lot = document.get("lot_code")
    if not isinstance(sheet_lot, str) or not sheet_lot:
        raise BidPackageError(f"{SHEET_NAME}: lot_code is missing")
    if lot_code is not None and sheet_lot != lot_code:
        raise BidPackageError(f"{SHEET_NAME} is for lot {sheet_lot!r}, not for lot {lot_code!r}")
    price = _price(document.get("total_price"))
    items = _items(document.get("items", {}), segment)
    return OpeningSheet(lot_code=sheet_lot, total_price=price, items=items)


def _sheet_bytes(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo(SHEET_NAME)
            except KeyError:
                raise BidPackageError(f"the bid package has no {SHEET_NAME} (the opening sheet)") from None
            if info.file_size > MAX_SHEET_BYTES:
                raise BidPackageError(f"{SHEET_NAME} is {info.file_size} bytes; at most {MAX_SHEET_BYTES}")
            with archive.open(info) as member:
                return member.read(MAX_SHEET_BYTES + 1)[:MAX_SHEET_BYTES]
    except zipfile.BadZipFile as error:
        raise BidPackageError(f"the bid package is not a ZIP archive ({error})") from None
    except (zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, OSError) as error:
        raise BidPackageError(f"the bid package cannot be read as a ZIP archive ({error})") from None


def _price(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise BidPackageError(f"{SHEET_NAME}: total_price must be a decimal string in yuan, e.g. \"11800000.00\"")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise BidPackageError(f"{SHEET_NAME}: total_price {value!r} is not a number") from None
    if not price.is_finite() or price <= 0 or price > MAX_PRICE:
        raise BidPackageError(f"{SHEET_NAME}: total_price {value!r} must be a positive amount of yuan")
    if price != price.quantize(Decimal("0.01")):
        raise BidPackageError(f"{SHEET_NAME}: total_price {value!r} has more than 2 decimal places")
    return price.quantize(Decimal("0.01"))


def _check_price_lines(lines: Any) -> None:
    """Priced lines: ``[{"name", "quantity", "unit_price", "total"}]``, amounts as decimal text."""
    if not isinstance(lines, list) or not 1 <= len(lines) <= MAX_PRICE_LINES:
        raise BidPackageError(f"{SHEET_NAME}: item price_items must be a list of 1 to {MAX_PRICE_LINES} lines")
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, dict) or set(line) != {"name", "quantity", "unit_price", "total"}:
            raise BidPackageError(f"{SHEET_NAME}: price_items line {number} must have exactly name, quantity, "
                                  "unit_price and total")
        if not isinstance(line["name"], str) or not line["name"].strip() or len(line["name"]) > MAX_TEXT:
            raise BidPackageError(f"{SHEET_NAME}: price_items line {number}: name must be text of 1 to "
                                  f"{MAX_TEXT} characters")
        for field_name in ("quantity", "unit_price", "total"):
            if not _is_amount(line[field_name]):
                raise BidPackageError(f"{SHEET_NAME}: price_items line {number}: {field_name} must be a "
                                      "non-negative decimal string")


def _is_amount(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 30:
        return False
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    return number.is_finite() and number >= 0


def _items(items: Any, segment: str | None) -> dict[str, Any]:
    if not isinstance(items, dict):
        raise BidPackageError(f"{SHEET_NAME}: items must be a JSON object")
    checked: dict[str, Any] = {}
    for name, value in items.items():
        kind = ITEM_KINDS.get(name)
        if kind is None:
            raise BidPackageError(f"{SHEET_NAME}: unknown item {name!r}; known: {', '.join(sorted(ITEM_KINDS))}")
        if kind == "days" and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36500):
            raise BidPackageError(f"{SHEET_NAME}: item {name} must be a whole number from 1 to 36500")
        if kind == "text" and (not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT):
            raise BidPackageError(f"{SHEET_NAME}: item {name} must be text of 1 to {MAX_TEXT} characters")
        if kind == "price_lines":
            _check_price_lines(value)
        checked[name] = value
    if segment is not None:
        missing = [name for name, _, required in SEGMENT_ITEMS.get(segment, ()) if required and name not in checked]
        if missing:
            raise BidPackageError(f"{SHEET_NAME}: the {segment} opening sheet needs item(s) {', '.join(missing)}")
    return checked
