"""The specialty classification: code shapes, unknown codes with suggestions, the tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expert_pool.classification import (
    Classification,
    ClassificationTableError,
    SpecialtyError,
)


@pytest.fixture(scope="module")
def table() -> Classification:
    return Classification.load()


def test_packaged_table_says_it_is_a_representative_subset(table: Classification) -> None:
    assert "REPRESENTATIVE SUBSET" in table.note
    assert table.top_levels() == ["A", "B", "C"]
    assert table.name("A") == "工程" and table.name("B") == "货物" and table.name("C") == "服务"
    for top in "ABC":
        assert len(table.children(top)) >= 10
    assert any(len(category.code) == 7 for category in table)  # some A040101-deep codes


def test_validate_normalises(table: Classification) -> None:
    assert table.validate("a0401") == "A0401"
    assert table.validate("  A04 ") == "A04"
    assert table.validate("Ａ０４") == "A04"  # full-width input from a Chinese keyboard
    assert "a04" in table and "A99" not in table


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("A4", "1 digit after the letter"),
        ("A041", "3 digits after the letter"),
        ("AX1", "only digits may follow"),
        ("04", "must start with a letter"),
        ("", "it is empty"),
    ],
)
def test_shape_errors_name_the_code_and_why(table: Classification, code: str, fragment: str) -> None:
    with pytest.raises(SpecialtyError) as caught:
        table.validate(code)
    assert fragment in str(caught.value)
    assert repr(code) in str(caught.value)
    assert caught.value.reason in ("shape", "empty")
    assert isinstance(caught.value, ValueError)


def test_shape_error_suggests_the_padded_code(table: Classification) -> None:
    with pytest.raises(SpecialtyError) as caught:
        table.validate("A4")
    assert caught.value.suggestions == ("A04",)
    assert "did you mean A04 铁路工程" in str(caught.value)
    with pytest.raises(SpecialtyError) as caught:
        table.validate("A04.01")
    assert caught.value.suggestions == ("A0401",)


def test_unknown_code_suggests_siblings(table: Classification) -> None:
    with pytest.raises(SpecialtyError) as caught:
        table.validate("A0499")
    error = caught.value
    assert error.reason == "unknown"
    assert "'A0499' is not in the classification table" in str(error)
    assert "A04 (铁路工程) has no sub-category '99'" in str(error)
    assert error.suggestions and all(code.startswith("A04") and len(code) == 5 for code in error.suggestions)
    assert "did you mean" in str(error)


def test_unknown_deeper_code_and_unknown_top_level(table: Classification) -> None:
    with pytest.raises(SpecialtyError) as caught:
        table.validate("A049901")
    assert "deepest existing category on its path is A04" in str(caught.value)
    with pytest.raises(SpecialtyError) as caught:
        table.validate("D01")
    assert "no top-level class 'D'" in str(caught.value)
    assert caught.value.suggestions == ("A", "B", "C")
    with pytest.raises(SpecialtyError) as caught:  # a leaf: suggest the leaf itself
        table.validate("B0901")
    assert caught.value.suggestions == ("B09",)


def test_tree_queries(table: Classification) -> None:
    assert table.parent("A040101") == "A0401"
    assert table.parent("A04") == "A"
    assert table.parent("A") is None
    assert table.ancestors("A040101") == ["A", "A04", "A0401"]
    assert table.ancestors("B") == []
    descendants = table.descendants("A04")
    assert "A0401" in descendants and "A040101" in descendants and "A04" not in descendants
    assert all(code.startswith("A04") for code in descendants)
    assert table.descendants("A040101") == []
    assert table.top_level("c0401") == "C"
    assert table.name("A04", lang="en") == "Railway works"


def test_is_within(table: Classification) -> None:
    assert table.is_within("A0401", "A04")  # an A0401 expert serves an A04 request
    assert table.is_within("A040101", "A")
    assert table.is_within("A04", "A04")
    assert not table.is_within("A04", "A0401")
    assert not table.is_within("A0401", "A05")
    assert not table.is_within("B0201", "A")
    with pytest.raises(SpecialtyError):
        table.is_within("A0499", "A04")


def test_codes_are_checked_against_the_loaded_table(tmp_path: Path) -> None:
    document = {
        "note": "test table",
        "categories": [
            {"code": "A", "name_zh": "工程", "name_en": "Works", "parent": None, "level": 1},
            {"code": "A99", "name_zh": "测试", "name_en": "Test", "parent": "A", "level": 2},
        ],
    }
    path = tmp_path / "table.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    table = Classification.load(path)
    assert table.validate("A99") == "A99"
    with pytest.raises(SpecialtyError):
        table.validate("A04")


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"code": "A04", "name_zh": "x", "name_en": "x", "parent": None, "level": 2}, "implies 'A'"),
        ({"code": "A4", "name_zh": "x", "name_en": "x", "parent": "A", "level": 2}, "not a well-formed"),
        ({"code": "A04", "name_zh": "x", "name_en": "x", "parent": "A", "level": 3}, "implies 2"),
        ({"code": "A0401", "name_zh": "x", "name_en": "x", "parent": "A04", "level": 3}, "not in the table"),
    ],
)
def test_inconsistent_tables_are_refused(tmp_path: Path, entry: dict[str, object], fragment: str) -> None:
    top = {"code": "A", "name_zh": "工程", "name_en": "Works", "parent": None, "level": 1}
    path = tmp_path / "table.json"
    path.write_text(json.dumps({"categories": [top, entry]}), encoding="utf-8")
    with pytest.raises(ClassificationTableError, match=fragment):
        Classification.load(path)
