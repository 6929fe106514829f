"""Compiled records (the OCDS merging rules) and the release and record packages.

Merging (OCDS 1.1 "Merging"): releases are taken oldest first; an object is merged field by
field; an array of objects that all have an ``id`` is merged item by item on that id (new
ids appended in order); any other array, and any other value, is replaced by the newer
release's; a ``null`` removes the field. The compiled release takes the tag ``compiled``,
the latest date and the id ``<ocid>-<date>``.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.clock import parse_rfc3339, rfc3339, utcnow
from trading.ocds_schema import EXTENSION_URLS

OCDS_VERSION = "1.1"
PUBLISHER = {"name": "bidhall public resource trading platform"}
# A package's ``uri`` when it is not served from a URL (the command's files).
EXPORT_URI_BASE = "urn:bidhall:ocds"


def merge(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """The compiled release of ``releases`` (one ocid), per the merging rules."""
    ordered = sorted(releases, key=lambda release: parse_rfc3339(release["date"]))
    compiled: dict[str, Any] = {}
    for release in ordered:
        compiled = _merge_object(compiled, release)
    compiled["tag"] = ["compiled"]
    compiled["id"] = f"{compiled['ocid']}-{compiled['date']}"
    return compiled


def _merge_object(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    merged = dict(older)
    for key, value in newer.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            merged[key] = _merge_object(merged.get(key) or {}, value)
        elif _identified(value):
            merged[key] = _merge_by_id(merged.get(key) or [], value)
        else:
            merged[key] = value
    return merged


def _identified(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) and "id" in item for item in value)


def _merge_by_id(older: list[Any], newer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = {str(item["id"]): item for item in older if isinstance(item, dict) and "id" in item}
    order = list(items)
    for item in newer:
        key = str(item["id"])
        if key not in items:
            order.append(key)
        items[key] = _merge_object(items.get(key, {}), item)
    return [items[key] for key in order]


def record_of(ocid: str, releases: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of one contracting process: its releases embedded, and compiled."""
    return {"ocid": ocid, "releases": releases, "compiledRelease": merge(releases)}


def release_package(releases: list[dict[str, Any]], uri: str) -> dict[str, Any]:
    return {**_package_head(uri, _latest(releases)), "releases": releases}


def record_package(records: list[dict[str, Any]], uri: str) -> dict[str, Any]:
    dates = [record["compiledRelease"]["date"] for record in records]
    return {**_package_head(uri, max(dates, key=parse_rfc3339, default=None)), "records": records}


def _package_head(uri: str, published: str | None) -> dict[str, Any]:
    # On demand, the published date is that of the last change of what the package holds.
    return {"uri": uri, "version": OCDS_VERSION, "extensions": list(EXTENSION_URLS),
            "publishedDate": published or rfc3339(utcnow()), "publisher": dict(PUBLISHER)}


def _latest(releases: list[dict[str, Any]]) -> str | None:
    return max((release["date"] for release in releases), key=parse_rfc3339, default=None)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Amounts are exact two-place decimals; a JSON number is written from their text.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_json(document: Any, *, indent: int | None = None) -> str:
    """``document`` as JSON text (amounts as numbers)."""
    return json.dumps(document, default=_plain, ensure_ascii=False, indent=indent)
