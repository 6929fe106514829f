"""Expert specialty classification (《公共资源交易评标专家专业分类标准》, 2018).

The standard sorts evaluation experts into three top-level classes, ``A`` works (工程),
``B`` goods (货物) and ``C`` services (服务), each refined by nested categories that add two
digits per level: ``A04`` (level 2), ``A0401`` (level 3), ``A040101`` (level 4).

The code table is data, not code: :meth:`Classification.load` reads a JSON file whose
``categories`` list holds ``{code, name_zh, name_en, parent, level}`` entries. The file
shipped in ``expert_pool/data/classification.json`` is a REPRESENTATIVE SUBSET written
without the official text: faithful in structure (three top levels, two digits per level,
a realistic set of second-level categories and some deeper ones) but its names and codes
must be replaced by the official table before production use. Every check here
(:meth:`Classification.validate` and everything built on it) uses whatever table is
loaded, so replacing the file is all it takes.

An expert qualifies for a request in the request's category or any of its descendants:
``is_within("A0401", "A04")`` is true, ``is_within("A04", "A0401")`` is not.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

DEFAULT_TABLE = "data/classification.json"
"""The packaged table, relative to the ``expert_pool`` package."""

_SHAPE = re.compile(r"[A-Z](?:[0-9]{2})*")
_MAX_SUGGESTIONS = 6


class SpecialtyError(ValueError):
    """A specialty code is malformed or not in the loaded table.

    ``code`` is the text as given, ``reason`` is ``"empty"``, ``"shape"`` or
    ``"unknown"``, and ``suggestions`` lists codes the caller may have meant.
    """

    def __init__(
        self, message: str, *, code: str, reason: str, suggestions: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.suggestions = suggestions


class ClassificationTableError(ValueError):
    """The code table file itself is inconsistent (duplicate codes, wrong parents, ...)."""


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    parent: str | None
    level: int


def normalise_code(text: str) -> str:
    """Upper-case, stripped, full-width characters folded (``ａ０４`` -> ``A04``)."""
    return unicodedata.normalize("NFKC", str(text)).strip().upper()


def code_shape_problem(code: str) -> str | None:
    """Why a normalised code cannot be a classification code at all, or None."""
    if not code:
        return "it is empty"
    if not ("A" <= code[0] <= "Z"):
        return "it must start with a letter (A works, B goods, C services)"
    rest = code[1:]
    if rest and not (rest.isascii() and rest.isdigit()):
        return "after the letter only digits may follow, two per level (e.g. A04, A0401)"
    if len(rest) % 2:
        return (
            f"it has {len(rest)} digit{'s' if len(rest) != 1 else ''} after the letter; "
            "each level adds exactly two digits (e.g. A04, A0401)"
        )
    return None


def _parent_of_shape(code: str) -> str | None:
    if len(code) == 1:
        return None
    return code[:-2] if len(code) > 3 else code[0]


class Classification:
    """A loaded code table. Immutable; share one instance."""

    def __init__(self, categories: list[Category], *, note: str = "", edition: str = "") -> None:
        self.note = note
        self.edition = edition
        self._by_code: dict[str, Category] = {}
        self._children: dict[str | None, list[str]] = {}
        for category in categories:
            self._check_entry(category)
            if category.code in self._by_code:
                raise ClassificationTableError(f"code {category.code!r} appears twice in the table")
            self._by_code[category.code] = category
        for category in categories:
            if category.parent is not None and category.parent not in self._by_code:
                raise ClassificationTableError(
                    f"code {category.code!r} names parent {category.parent!r}, which is not in the table"
                )
        for code in sorted(self._by_code):
            self._children.setdefault(self._by_code[code].parent, []).append(code)

    # ----------------------------------------------------------------- loading

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Classification:
        """Load a table; without ``path`` the one packaged with ``expert_pool``."""
        if path is None:
            text = resources.files("expert_pool").joinpath(DEFAULT_TABLE).read_text(encoding="utf-8")
            source = f"expert_pool/{DEFAULT_TABLE}"
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            source = os.fspath(path)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ClassificationTableError(f"{source} is not valid JSON: {exc}") from None
        return cls.from_document(document, source=source)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], *, source: str = "table") -> Classification:
        entries = document.get("categories") if isinstance(document, Mapping) else None
        if not isinstance(entries, list) or not entries:
            raise ClassificationTableError(f"{source} has no 'categories' list")
        categories = []
        for index, entry in enumerate(entries):
            try:
                categories.append(
                    Category(
                        code=str(entry["code"]),
                        name_zh=str(entry["name_zh"]),
                        name_en=str(entry.get("name_en") or ""),
                        parent=None if entry.get("parent") is None else str(entry["parent"]),
                        level=int(entry["level"]),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ClassificationTableError(
                    f"{source}: category #{index + 1} is incomplete ({exc!r}); each needs code, "
                    "name_zh, name_en, parent and level"
                ) from None
        return cls(
            categories, note=str(document.get("note") or ""), edition=str(document.get("edition") or "")
        )

    @staticmethod
    def _check_entry(category: Category) -> None:
        code = category.code
        if normalise_code(code) != code or code_shape_problem(code):
            raise ClassificationTableError(f"table code {code!r} is not a well-formed code")
        if category.parent != _parent_of_shape(code):
            raise ClassificationTableError(
                f"table code {code!r} names parent {category.parent!r}; "
                f"its code implies {_parent_of_shape(code)!r}"
            )
        expected_level = 1 + (len(code) - 1) // 2
        if category.level != expected_level:
            raise ClassificationTableError(
                f"table code {code!r} has level {category.level}; its code implies {expected_level}"
            )
        if not category.name_zh.strip():
            raise ClassificationTableError(f"table code {code!r} has no Chinese name")

    # ----------------------------------------------------------------- queries

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and normalise_code(code) in self._by_code

    def __iter__(self) -> Iterator[Category]:
        return (self._by_code[code] for code in sorted(self._by_code))

    def __len__(self) -> int:
        return len(self._by_code)

    def validate(self, code: str) -> str:
        """The normalised code, or :class:`SpecialtyError` saying what is wrong with it."""
        if not isinstance(code, str):
            raise SpecialtyError(
                f"specialty code must be text, got {code!r}", code=str(code), reason="shape"
            )
        normal = normalise_code(code)
        if normal in self._by_code:
            return normal
        problem = code_shape_problem(normal)
        if problem is not None:
            suggestions = self._shape_suggestions(normal)
            raise SpecialtyError(
                f"specialty code {code!r} is malformed: {problem}" + _did_you_mean(self, suggestions),
                code=code,
                reason="empty" if not normal else "shape",
                suggestions=suggestions,
            )
        # Well-formed but unknown: suggest from the deepest ancestor that exists.
        ancestor = _parent_of_shape(normal)
        while ancestor is not None and ancestor not in self._by_code:
            ancestor = _parent_of_shape(ancestor)
        if ancestor is None:
            tops = self._children.get(None, [])
            listing = ", ".join(f"{top} {self._by_code[top].name_zh}" for top in tops)
            raise SpecialtyError(
                f"specialty code {code!r} is not in the classification table: "
                f"there is no top-level class {normal[0]!r} (the classes are {listing})",
                code=code,
                reason="unknown",
                suggestions=tuple(tops),
            )
        siblings = self._children.get(ancestor, [])
        suggestions = _closest(normal, siblings) if siblings else (ancestor,)
        where = f"{ancestor} ({self._by_code[ancestor].name_zh})"
        if ancestor == _parent_of_shape(normal):
            detail = f"{where} has no sub-category {normal[len(ancestor):]!r}"
        else:
            detail = f"the deepest existing category on its path is {where}"
        if not siblings:
            detail += f", and {ancestor} has no sub-categories"
        raise SpecialtyError(
            f"specialty code {code!r} is not in the classification table: {detail}"
            + _did_you_mean(self, suggestions),
            code=code,
            reason="unknown",
            suggestions=suggestions,
        )

    def category(self, code: str) -> Category:
        return self._by_code[self.validate(code)]

    def name(self, code: str, *, lang: str = "zh") -> str:
        """The category's name, Chinese by default (``lang="en"`` for English)."""
        category = self.category(code)
        if lang == "zh":
            return category.name_zh
        if lang == "en":
            return category.name_en
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")

    def parent(self, code: str) -> str | None:
        """The parent code; None for a top-level class."""
        return self.category(code).parent

    def ancestors(self, code: str) -> list[str]:
        """Codes above ``code``, top level first (``A0401`` -> ``["A", "A04"]``)."""
        chain: list[str] = []
        current = self.parent(code)
        while current is not None:
            chain.append(current)
            current = self._by_code[current].parent
        chain.reverse()
        return chain

    def children(self, code: str) -> list[str]:
        return list(self._children.get(self.validate(code), []))

    def descendants(self, code: str) -> list[str]:
        """Every code below ``code`` (not itself), in code order."""
        found: list[str] = []
        stack = list(reversed(self._children.get(self.validate(code), [])))
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(reversed(self._children.get(current, [])))
        return found

    def is_within(self, code: str, ancestor: str) -> bool:
        """True when ``code`` equals ``ancestor`` or lies below it.

        An expert registered for ``A0401`` qualifies for a request for ``A04``; one
        registered for ``A04`` does not qualify for a request for ``A0401``.
        """
        code = self.validate(code)
        ancestor = self.validate(ancestor)
        return code == ancestor or code.startswith(ancestor)

    def top_level(self, code: str) -> str:
        """``"A"``, ``"B"`` or ``"C"`` (whatever top-level letter the table has)."""
        return self.validate(code)[0]

    def top_levels(self) -> list[str]:
        return list(self._children.get(None, []))

    # -------------------------------------------------------------- suggestions

    def _shape_suggestions(self, normal: str) -> tuple[str, ...]:
        candidates: list[str] = []
        squeezed = re.sub(r"[^A-Z0-9]", "", normal)
        candidates.append(squeezed)
        # "A4" -> "A04", "A041" -> "A0401": pad the last lone digit.
        if squeezed[:1].isalpha() and squeezed[1:].isdigit() and len(squeezed[1:]) % 2:
            candidates.append(squeezed[:-1] + "0" + squeezed[-1])
        found: list[str] = []
        for candidate in candidates:
            if candidate in self._by_code and candidate not in found:
                found.append(candidate)
        return tuple(found)


def _closest(code: str, options: list[str]) -> tuple[str, ...]:
    ranked = sorted(
        options,
        key=lambda option: (-difflib.SequenceMatcher(None, code, option).ratio(), option),
    )
    return tuple(sorted(ranked[:_MAX_SUGGESTIONS]))


def _did_you_mean(table: Classification, suggestions: tuple[str, ...]) -> str:
    if not suggestions:
        return ""
    shown = ", ".join(f"{code} {table._by_code[code].name_zh}" for code in suggestions)
    return f"; did you mean {shown}?"


@functools.cache
def default_classification() -> Classification:
    """The packaged table, read once when first needed."""
    return Classification.load()
