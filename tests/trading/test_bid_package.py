"""The bid package format: a ZIP with opening-sheet.json, read and checked at the opening."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from trading.bid_package import (
    SHEET_NAME,
    BidPackageError,
    OpeningSheet,
    make_bid_package,
    read_opening_sheet,
)

ITEMS = {"duration_days": 365, "quality": "合格", "project_manager": "张三", "validity_days": 90}


def test_round_trip_with_documents(tmp_path: Path) -> None:
    document = tmp_path / "technical.pdf"
    document.write_bytes(b"%PDF-1.7 technical proposal")
    sheet = OpeningSheet(lot_code="GC-1-L01", total_price=Decimal("11800000.5"), items=ITEMS)
    package = make_bid_package(tmp_path / "bid.zip", sheet, {"technical.pdf": document, "commercial.txt": b"x"})
    read = read_opening_sheet(package, segment="construction", lot_code="GC-1-L01")
    assert read.total_price == Decimal("11800000.50") and read.items == ITEMS
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == sorted([SHEET_NAME, "technical.pdf", "commercial.txt"])


def _sheet(**changes: object) -> dict:
    body = {"format": "bidhall-opening-sheet/1", "lot_code": "GC-1-L01", "total_price": "100.00", "items": ITEMS}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize("sheet,reason", [
    (_sheet(total_price=100), "decimal string"),
    (_sheet(total_price="-5.00"), "positive amount"),
    (_sheet(total_price="1.234"), "more than 2 decimal places"),
    (_sheet(total_price="abc"), "not a number"),
    (_sheet(format="v0"), "format must be"),
    (_sheet(lot_code="OTHER"), "is for lot 'OTHER'"),
    (_sheet(items={"duration_days": 365}), "needs item(s) quality"),
    (_sheet(items={**ITEMS, "duration_days": "a year"}), "whole number"),
    (_sheet(items={**ITEMS, "colour": "red"}), "unknown item 'colour'"),
    (_sheet(extra=1), "unknown field(s) extra"),
])
def test_malformed_sheet_gives_a_clear_reason(tmp_path: Path, sheet: dict, reason: str) -> None:
    package = make_bid_package(tmp_path / "bid.zip", sheet)
    with pytest.raises(BidPackageError) as caught:
        read_opening_sheet(package, segment="construction", lot_code="GC-1-L01")
    assert reason in caught.value.detail


def test_not_a_zip_no_sheet_bad_json(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(b"%PDF-1.7 not a zip")
    with pytest.raises(BidPackageError, match="not a ZIP archive"):
        read_opening_sheet(plain)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("technical.pdf", b"x")
    with pytest.raises(BidPackageError, match="has no opening-sheet.json"):
        read_opening_sheet(empty)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr(SHEET_NAME, b"{not json")
    with pytest.raises(BidPackageError, match="not valid UTF-8 JSON"):
        read_opening_sheet(broken)
    huge = tmp_path / "huge.zip"
    with zipfile.ZipFile(huge, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(SHEET_NAME, b" " * (1 << 20))
    with pytest.raises(BidPackageError, match="at most"):
        read_opening_sheet(huge)


def test_price_words_and_priced_lines_are_read_for_the_evaluation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from trading.bid_package import OpeningSheet, make_bid_package, read_opening_sheet

    items = {"duration_days": 365, "quality": "合格", "project_manager": "张三", "validity_days": 90,
             "total_price_words": "人民币壹仟壹佰捌拾万元整",
             "price_items": [{"name": "earthworks", "quantity": "100", "unit_price": "118000.00",
                              "total": "11800000.00"}]}
    package = make_bid_package(tmp_path / "bid.zip", OpeningSheet("LOT-1", Decimal("11800000.00"), items))
    sheet = read_opening_sheet(package, segment="construction")
    assert sheet.items["price_items"][0]["unit_price"] == "118000.00"
    assert sheet.items["total_price_words"].startswith("人民币")


@pytest.mark.parametrize("lines, words", [
    ("not a list", "list of 1 to"),
    ([{"name": "x", "quantity": "1", "unit_price": "2"}], "exactly name, quantity"),
    ([{"name": "x", "quantity": "-1", "unit_price": "2", "total": "2"}], "quantity must be a non-negative"),
    ([{"name": "", "quantity": "1", "unit_price": "2", "total": "2"}], "name must be text"),
])
def test_malformed_priced_lines_are_named(tmp_path, lines, words) -> None:  # type: ignore[no-untyped-def]
    from trading.bid_package import (
        BidPackageError,
        OpeningSheet,
        make_bid_package,
        read_opening_sheet,
    )

    items = {"duration_days": 365, "quality": "合格", "project_manager": "张三", "validity_days": 90,
             "price_items": lines}
    package = make_bid_package(tmp_path / "bid.zip", OpeningSheet("LOT-1", Decimal("1.00"), items))
    with pytest.raises(BidPackageError, match=words):
        read_opening_sheet(package, segment="construction")
