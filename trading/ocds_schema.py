"""The OCDS 1.1.5 schemas with the bid and lot extensions applied, and validators over them.

The schema files are copies of the standard's (``trading/data/ocds/``, with their licences),
so validation needs no network: the packages' ``$ref`` to the release schema by its URL is
served from that copy. An extension is a JSON Merge Patch (RFC 7386) of the release schema,
which is how the standard's own tooling applies it.

Formats are checked for what OCDS relies on (``date-time``, ``uri``) with no extra
dependency: a date-time must parse as RFC 3339 with an offset, a URI must have a scheme.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMA_DIR = Path(__file__).parent / "data" / "ocds"
RELEASE_SCHEMA_URL = "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"
EXTENSIONS = ("ocds_bid_extension", "ocds_lots_extension")
# What a package names in its ``extensions``: the extension.json of the version we copied.
EXTENSION_URLS = tuple(
    f"https://raw.githubusercontent.com/open-contracting-extensions/{name}/v1.1.5/extension.json"
    for name in EXTENSIONS)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _load(relative: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / relative).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def release_schema() -> dict[str, Any]:
    """The release schema with every extension of :data:`EXTENSIONS` applied."""
    schema = _load("release-schema.json")
    for name in EXTENSIONS:
        schema = merge_patch(schema, _load(f"extensions/{name}/release-schema.json"))
    return schema  # type: ignore[no-any-return]


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.tzinfo is not None and "T" in value

    @checker.checks("uri")
    def is_uri(value: object) -> bool:
        return not isinstance(value, str) or bool(_URI.match(value))

    return checker


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(release_schema(), default_specification=DRAFT4)
    return Registry().with_resource(RELEASE_SCHEMA_URL, resource)


@cache
def validator(kind: str) -> Draft4Validator:
    """The validator of ``release``, ``release-package`` or ``record-package``."""
    schema = release_schema() if kind == "release" else _load(f"{kind}-schema.json")
    return Draft4Validator(schema, registry=_registry(), format_checker=_format_checker())


def errors_of(kind: str, document: dict[str, Any]) -> list[str]:
    """Every schema error of ``document`` as ``path: message`` (empty when it is valid)."""
    found = sorted(validator(kind).iter_errors(document), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}" for error in found]
